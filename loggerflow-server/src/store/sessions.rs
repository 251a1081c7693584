//! Login sessions of the dashboard (`--auth`). The cookie holds a random
//! token; the table holds only a SHA-256 of it and of the credentials it was
//! started under, so a copy of the database does not log anyone in, and a
//! change of `--auth` ends every session. Each session has its own CSRF
//! token for its forms.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect,
};
use sha2::{Digest, Sha256};

use super::entity::session;
use super::{StoreError, now_ms};

/// How long a session lasts without logging in again.
pub const SESSION_TTL_MS: i64 = 7 * 24 * 3_600_000;

/// A logged-in browser.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Session {
    /// The session's key in the table (a digest of its cookie's token and
    /// of the credentials): what [`live`] looks up.
    pub key: String,
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
        key: hash(&token, credentials),
        user: user.to_owned(),
        csrf_token: random_token(),
    };
    let now = now_ms();
    session::Entity::insert(session::ActiveModel {
        token_hash: Set(session.key.clone()),
        csrf_token: Set(session.csrf_token.clone()),
        user: Set(session.user.clone()),
        created_ms: Set(now),
        expires_ms: Set(now + SESSION_TTL_MS),
    })
    .exec_without_returning(db)
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
    Ok(session::Entity::find()
        .select_only()
        .column_as(session::Column::TokenHash, "key")
        .columns([session::Column::User, session::Column::CsrfToken])
        .filter(session::Column::TokenHash.eq(hash(token, credentials)))
        .filter(session::Column::ExpiresMs.gt(now_ms()))
        .into_model::<Session>()
        .one(db)
        .await?)
}

/// Which of the sessions `keys` ([`Session::key`]) are still live: not
/// logged out, not expired, not lost with a replaced database.
pub async fn live(
    db: &DatabaseConnection,
    keys: &[std::sync::Arc<str>],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let Some(first) = keys.first() else {
        return Ok(std::collections::HashSet::new());
    };
    // padded to a power of two with repeats of the first: a handful of
    // statement texts, not one per length (the connections' statement cache)
    let padded = keys
        .iter()
        .chain(std::iter::repeat(first))
        .take(keys.len().next_power_of_two())
        .map(|k| k.to_string());
    Ok(session::Entity::find()
        .select_only()
        .column(session::Column::TokenHash)
        .filter(session::Column::TokenHash.is_in(padded))
        .filter(session::Column::ExpiresMs.gt(now_ms()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Ends the session of `token` (logout); returns its key when there was
/// one to end.
pub async fn delete(
    db: &DatabaseConnection,
    token: &str,
    credentials: &str,
) -> Result<Option<String>, StoreError> {
    let key = hash(token, credentials);
    let deleted = session::Entity::delete_by_id(key.clone()).exec(db).await?;
    Ok((deleted.rows_affected > 0).then_some(key))
}

/// Deletes expired sessions; returns how many.
pub async fn prune(db: &DatabaseConnection) -> Result<u64, StoreError> {
    let result = session::Entity::delete_many()
        .filter(session::Column::ExpiresMs.lte(now_ms()))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
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
