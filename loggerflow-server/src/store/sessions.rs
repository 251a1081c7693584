//! Login sessions of the dashboard (`--auth`). The cookie holds a random
//! token; the table holds only a SHA-256 of it and of the credentials it was
//! started under, so a copy of the database does not log anyone in, and a
//! change of `--auth` ends every session. Each session has its own CSRF
//! token for its forms.

use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use sha2::{Digest, Sha256};

use super::{StoreError, now_ms, sql};

/// How long a session lasts without logging in again.
pub const SESSION_TTL_MS: i64 = 7 * 24 * 3_600_000;

/// A logged-in browser.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Session {
    /// Who logged in.
    pub user: String,
    /// The token its forms must carry.
    pub csrf_token: String,
}

/// A fresh random token (256 bits, hex).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // the OS random source; without one there is no safe session at all
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// What binds sessions to `--auth`: a digest of the credentials (see
/// [`create`]).
pub fn credentials_tag(user: &str, password: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"loggerflow-session-credentials\0");
    digest.update(user.as_bytes());
    digest.update(b"\0");
    digest.update(password.as_bytes());
    hex::encode(digest.finalize())
}

fn hash(token: &str, credentials: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(credentials.as_bytes());
    digest.update(b"\0");
    digest.update(token.as_bytes());
    hex::encode(digest.finalize())
}

/// Starts a session for `user` under the credentials `credentials` (a
/// [`credentials_tag`]); returns the cookie's token and the session.
pub async fn create(
    db: &DatabaseConnection,
    user: &str,
    credentials: &str,
) -> Result<(String, Session), StoreError> {
    let token = random_token();
    let session = Session {
        user: user.to_owned(),
        csrf_token: random_token(),
    };
    let now = now_ms();
    db.execute_raw(sql(
        db.get_database_backend(),
        "INSERT INTO sessions (token_hash, csrf_token, \"user\", created_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5)",
        [
            hash(&token, credentials).into(),
            session.csrf_token.clone().into(),
            session.user.clone().into(),
            now.into(),
            (now + SESSION_TTL_MS).into(),
        ],
    ))
    .await?;
    Ok((token, session))
}

/// The live session whose cookie token is `token`, started under
/// `credentials`.
pub async fn find(
    db: &DatabaseConnection,
    token: &str,
    credentials: &str,
) -> Result<Option<Session>, StoreError> {
    Ok(Session::find_by_statement(sql(
        db.get_database_backend(),
        "SELECT \"user\", csrf_token FROM sessions WHERE token_hash = $1 AND expires_ms > $2",
        [hash(token, credentials).into(), now_ms().into()],
    ))
    .one(db)
    .await?)
}

/// Ends the session of `token` (logout).
pub async fn delete(
    db: &DatabaseConnection,
    token: &str,
    credentials: &str,
) -> Result<(), StoreError> {
    db.execute_raw(sql(
        db.get_database_backend(),
        "DELETE FROM sessions WHERE token_hash = $1",
        [hash(token, credentials).into()],
    ))
    .await?;
    Ok(())
}

/// Deletes expired sessions; returns how many.
pub async fn prune(db: &DatabaseConnection) -> Result<u64, StoreError> {
    let result = db
        .execute_raw(sql(
            db.get_database_backend(),
            "DELETE FROM sessions WHERE expires_ms <= $1",
            [now_ms().into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_stored() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let tag = credentials_tag("admin", "pw1");
        assert_ne!(hash(&a, &tag), a);
        assert_eq!(hash(&a, &tag), hash(&a, &tag));
        // another password, another hash: the old session is not found
        assert_ne!(hash(&a, &tag), hash(&a, &credentials_tag("admin", "pw2")));
    }
}
