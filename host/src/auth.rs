//! Bearer tokens: HS256 JWTs signed with the admin secret, with a required `exp`, Kiln's `iss`
//! and `aud`, and a `scope`: `admin` for the admin API, `invoke` (or `admin`) for `jwt_check`
//! services and functions.

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
    /// A valid token whose scope does not allow this.
    #[error("this token's scope is '{have}'; this route needs a '{need}' token")]
    Forbidden {
        /// The token's scope.
        have: String,
        /// What the route needs.
        need: &'static str,
    },
}

/// Who issues Kiln's tokens and whom they are for (`iss` and `aud`).
pub const ISSUER: &str = "kiln";

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// Everything, the admin API included.
    Admin,
    /// Calling `jwt_check` services and functions only.
    Invoke,
}

impl Scope {
    /// `admin` or `invoke`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Invoke => "invoke",
        }
    }
}

/// The claims Kiln reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token is for.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// `admin` or `invoke`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Always [`ISSUER`].
    pub iss: String,
    /// Always [`ISSUER`].
    pub aud: String,
}

impl Claims {
    /// Whether these claims allow `need`: an admin token allows everything.
    pub fn allow(&self, need: Scope) -> Result<(), AuthError> {
        let have = self.scope.as_deref().unwrap_or_default();
        if have == Scope::Admin.as_str() || have == need.as_str() {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                have: have.to_string(),
                need: need.as_str(),
            })
        }
    }
}

/// How far ahead of this node's clock a token's `iat` may be: a token minted on another node
/// whose clock runs slightly ahead is still taken. `nbf` and `exp` have no leeway.
const IAT_SKEW: Duration = Duration::from_secs(30);

/// Checks the `Authorization: Bearer <jwt>` header against `secret`: signature, `exp`, `nbf`,
/// `iat` (not ahead), `iss`, `aud` and the presence of `scope`.
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
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[ISSUER]);
    validation.leeway = 0;
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|e| {
        AuthError::Invalid(match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::ImmatureSignature => "the token is not valid yet (its 'nbf' is ahead)",
            ErrorKind::InvalidSignature => "the token's signature is invalid",
            ErrorKind::InvalidAlgorithm => "the token must be signed with HS256",
            ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => {
                "the token has no 'exp' claim"
            }
            ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience => {
                "the token was not issued by Kiln for Kiln (iss and aud must be 'kiln')"
            }
            _ => "the token is malformed",
        })
    })?;
    if claims.scope.is_none() {
        return Err(AuthError::Invalid("the token has no 'scope' claim"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if claims.iat.is_some_and(|iat| iat > now + IAT_SKEW.as_secs()) {
        return Err(AuthError::Invalid(
            "the token claims to be issued in the future ('iat' is ahead)",
        ));
    }
    Ok(claims)
}

/// Checks the bearer token and that its scope allows `need`: 401 without a valid token, 403 for
/// a valid token of another scope.
pub fn authorize(headers: &HeaderMap, secret: &str, need: Scope) -> Result<Claims, AuthError> {
    let claims = verify(headers, secret)?;
    claims.allow(need)?;
    Ok(claims)
}

/// Mints a token of `scope` for `sub`, valid for `ttl`.
pub fn mint(secret: &str, sub: &str, ttl: Duration, scope: Scope) -> anyhow::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = Claims {
        sub: sub.to_string(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
        scope: Some(scope.as_str().to_string()),
        iss: ISSUER.to_string(),
        aud: ISSUER.to_string(),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
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
        let token = mint(SECRET, "admin", Duration::from_secs(60), Scope::Admin).expect("mint");
        assert_eq!(verify(&bearer(&token), SECRET).expect("valid").sub, "admin");
        assert!(verify(&bearer(&token), "another-secret-entirely").is_err());
    }

    #[test]
    fn scopes_admin_allows_all_and_invoke_only_invoking() {
        let admin = mint(SECRET, "a", Duration::from_secs(60), Scope::Admin).expect("mint");
        let invoke = mint(SECRET, "i", Duration::from_secs(60), Scope::Invoke).expect("mint");
        assert!(authorize(&bearer(&admin), SECRET, Scope::Admin).is_ok());
        assert!(authorize(&bearer(&admin), SECRET, Scope::Invoke).is_ok());
        assert!(authorize(&bearer(&invoke), SECRET, Scope::Invoke).is_ok());
        assert!(matches!(
            authorize(&bearer(&invoke), SECRET, Scope::Admin),
            Err(AuthError::Forbidden { .. })
        ));
    }

    fn forge(header: Header, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode")
    }

    #[test]
    fn tokens_without_exp_iss_aud_or_scope_or_of_another_algorithm_are_refused() {
        let far = 9_999_999_999u64;
        let good = serde_json::json!({"sub": "x", "exp": far, "iss": "kiln", "aud": "kiln", "scope": "admin"});
        assert!(
            verify(
                &bearer(&forge(Header::new(Algorithm::HS256), good.clone())),
                SECRET
            )
            .is_ok()
        );
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let token = forge(Header::new(algorithm), good.clone());
            assert_eq!(
                verify(&bearer(&token), SECRET).err(),
                Some(AuthError::Invalid("the token must be signed with HS256"))
            );
        }
        for missing in ["exp", "iss", "aud", "scope"] {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove(missing);
            let token = forge(Header::new(Algorithm::HS256), claims);
            assert!(
                verify(&bearer(&token), SECRET).is_err(),
                "without {missing}"
            );
        }
        let mut other = good;
        other["aud"] = "someone-else".into();
        assert!(
            verify(
                &bearer(&forge(Header::new(Algorithm::HS256), other)),
                SECRET
            )
            .is_err()
        );
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
            scope: Some("admin".into()),
            iss: ISSUER.into(),
            aud: ISSUER.into(),
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
    fn tokens_not_valid_yet_or_issued_in_the_future_are_refused() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let claims = |extra: serde_json::Value| {
            let mut c = serde_json::json!({"sub": "x", "exp": now + 7200, "iss": "kiln", "aud": "kiln", "scope": "admin"});
            for (k, v) in extra.as_object().expect("object") {
                c[k] = v.clone();
            }
            forge(Header::new(Algorithm::HS256), c)
        };
        assert_eq!(
            verify(
                &bearer(&claims(serde_json::json!({"nbf": now + 3600}))),
                SECRET
            )
            .err(),
            Some(AuthError::Invalid(
                "the token is not valid yet (its 'nbf' is ahead)"
            ))
        );
        assert!(
            verify(
                &bearer(&claims(serde_json::json!({"nbf": now - 5}))),
                SECRET
            )
            .is_ok()
        );
        assert!(
            verify(
                &bearer(&claims(serde_json::json!({"iat": now + 3600}))),
                SECRET
            )
            .is_err()
        );
        assert!(
            verify(
                &bearer(&claims(serde_json::json!({"iat": now + 5}))),
                SECRET
            )
            .is_ok()
        );
    }

    #[test]
    fn ttl_units() {
        use crate::config::parse_duration;
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h").ok(), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_duration("7d").ok(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert!(parse_duration("5 parsecs").is_err());
    }
}
