//! Login sessions of the dashboard (`--auth`). The cookie holds a random
//! token; the table holds only its SHA-256, so a copy of the database does
//! not log anyone in. Each session has its own CSRF token for its forms.

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

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a session for `user`; returns the cookie's token and the session.
pub async fn create(db: &DatabaseConnection, user: &str) -> Result<(String, Session), StoreError> {
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
            hash(&token).into(),
            session.csrf_token.clone().into(),
            session.user.clone().into(),
            now.into(),
            (now + SESSION_TTL_MS).into(),
        ],
    ))
    .await?;
    Ok((token, session))
}

/// The live session whose cookie token is `token`.
pub async fn find(db: &DatabaseConnection, token: &str) -> Result<Option<Session>, StoreError> {
    Ok(Session::find_by_statement(sql(
        db.get_database_backend(),
        "SELECT \"user\", csrf_token FROM sessions WHERE token_hash = $1 AND expires_ms > $2",
        [hash(token).into(), now_ms().into()],
    ))
    .one(db)
    .await?)
}

/// Ends the session of `token` (logout).
pub async fn delete(db: &DatabaseConnection, token: &str) -> Result<(), StoreError> {
    db.execute_raw(sql(
        db.get_database_backend(),
        "DELETE FROM sessions WHERE token_hash = $1",
        [hash(token).into()],
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
        assert_ne!(hash(&a), a);
        assert_eq!(hash(&a), hash(&a));
    }
}
