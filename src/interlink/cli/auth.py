"""Building the API's authenticator from command-line options."""

from __future__ import annotations

from pathlib import Path

from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure.security import AnyOf, ApiKeyAuthenticator, Authenticator, JwtAuthenticator

__all__ = ["authenticator"]


def authenticator(
    jwt_secret: str | None,
    jwks_file: Path | None,
    audience: str | None,
    issuer: str | None,
    algorithms: list[str] | None,
    api_keys: Path | None,
) -> Authenticator | None:
    """JWT and/or API keys, or None when neither is configured."""
    found: list[Authenticator] = []
    if jwt_secret or jwks_file:
        if not audience or not issuer:
            raise ConfigurationError("JWT authentication needs --jwt-audience and --jwt-issuer")
        default = ["HS256"] if jwt_secret else ["RS256"]
        found.append(
            JwtAuthenticator(
                audience=audience,
                issuer=issuer,
                algorithms=algorithms or default,
                secret=jwt_secret,
                jwks_file=jwks_file,
            )
        )
    if api_keys:
        found.append(ApiKeyAuthenticator.from_file(api_keys))
    if not found:
        return None
    return found[0] if len(found) == 1 else AnyOf(found)
