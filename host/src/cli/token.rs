//! `kiln token`: a token signed with the node's secret (`KILN_JWT_SECRET`, or the one stored).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{block_on, env_secret};
use crate::store::{PostgresStore, SqliteStore, Store};

/// Where `kiln token` finds the secret.
pub(super) enum TokenStore {
    /// `kiln.db` in this data dir.
    DataDir(PathBuf),
    /// This PostgreSQL database.
    Database(String),
}

pub(super) fn token(
    sub: &str,
    ttl: &str,
    scope: crate::auth::Scope,
    store: &TokenStore,
) -> anyhow::Result<ExitCode> {
    let ttl = crate::config::parse_duration(ttl).map_err(anyhow::Error::msg)?;
    let secret = match (env_secret(), store) {
        (Some(secret), _) => secret,
        (None, TokenStore::DataDir(data_dir)) => {
            if !data_dir.join("kiln.db").exists() {
                anyhow::bail!(
                    "{} has no kiln.db: start `kiln serve` once, or set KILN_JWT_SECRET",
                    data_dir.display()
                );
            }
            block_on(async {
                let store = SqliteStore::open(data_dir).await?;
                stored_secret(&store).await
            })??
        }
        (None, TokenStore::Database(url)) => block_on(async {
            let store = PostgresStore::open(url)
                .await
                .context("opening the PostgreSQL store (--database)")?;
            stored_secret(&store).await
        })??,
    };
    println!("{}", crate::auth::mint(&secret, sub, ttl, scope)?);
    Ok(ExitCode::SUCCESS)
}

async fn stored_secret(store: &dyn Store) -> anyhow::Result<String> {
    store
        .config()
        .await?
        .get("jwt_secret")
        .cloned()
        .context("no jwt_secret stored: start `kiln serve` once, or set KILN_JWT_SECRET")
}
