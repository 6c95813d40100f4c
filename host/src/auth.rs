//! Bearer tokens: HS256 JWTs with a required `exp`, signed with the admin secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Why a request's token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing bearer token: send 'Authorization: Bearer <JWT>'")]
    Missing,
    /// The header is not `Bearer <token>`.
    #[error("the Authorization header must be 'Bearer <JWT>'")]
    NotBearer,
    /// No secret is configured.
    #[error("no JWT secret is configured")]
    NoSecret,
    /// The token was checked and refused.
    #[error("{0}")]
    Invalid(&'static str),
}

/// The claims Kiln reads; others are kept but not interpreted.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token is for.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Checks the `Authorization: Bearer <jwt>` header against `secret`.
pub fn verify(headers: &HeaderMap, secret: &str) -> Result<Claims, AuthError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::NotBearer)?;
    if secret.is_empty() {
        return Err(AuthError::NoSecret);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|e| {
        AuthError::Invalid(match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::InvalidSignature => "the token's signature is invalid",
            ErrorKind::InvalidAlgorithm => "the token must be signed with HS256",
            ErrorKind::MissingRequiredClaim(_) => "the token has no 'exp' claim",
            _ => "the token is malformed",
        })
    })
}

/// Mints a token for `sub` valid for `ttl`.
pub fn mint(secret: &str, sub: &str, ttl: Duration) -> anyhow::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = Claims {
        sub: sub.to_string(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// Parses a lifetime: seconds (`3600`) or a duration (`90s`, `30m`, `12h`, `7d`, `1h 30m`).
pub fn parse_ttl(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|e| anyhow::anyhow!("invalid duration '{text}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}")
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        headers
    }

    const SECRET: &str = "a-test-secret-of-some-length";

    #[test]
    fn a_minted_token_verifies_and_a_wrong_secret_does_not() {
        let token = mint(SECRET, "admin", Duration::from_secs(60)).expect("mint");
        assert_eq!(verify(&bearer(&token), SECRET).expect("valid").sub, "admin");
        assert!(verify(&bearer(&token), "another-secret-entirely").is_err());
    }

    #[test]
    fn unsigned_and_expired_tokens_are_refused() {
        // {"alg":"none"} . {"sub":"x","exp":9999999999} . (no signature)
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(verify(&bearer(none), SECRET).is_err());
        let claims = Claims {
            sub: "x".into(),
            exp: 1,
            iat: None,
        };
        let expired = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode");
        assert_eq!(
            verify(&bearer(&expired), SECRET).err(),
            Some(AuthError::Invalid("the token has expired"))
        );
        assert_eq!(
            verify(&HeaderMap::new(), SECRET).err(),
            Some(AuthError::Missing)
        );
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_ttl("2h").ok(), Some(Duration::from_secs(7200)));
        assert_eq!(parse_ttl("7d").ok(), Some(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("5 parsecs").is_err());
    }
}
