//! `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) over the app's granted stores, so
//! that a component written for another host's key-value interface runs unchanged. `open` of a
//! store the app was not granted is `access-denied`; limits and a full quota are `other` with
//! the reason. Numbers written by `increment` are stored as decimal text (what JavaScript's
//! `get` reads back); one that would make a number negative is refused, writing nothing.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::{Kv, KvApp, KvFault, MAX_LIST};
use crate::store::kv::{Entry, Expect};

#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: { "wasi:keyvalue/store.bucket": super::Bucket },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// An open store (a granted one).
pub struct Bucket {
    app: Arc<KvApp>,
    store: String,
}

/// What the key-value host functions see of an instance.
pub struct KvView<'a> {
    /// The app's key-value part.
    pub kv: &'a Kv,
    /// The instance's resources.
    pub table: &'a mut ResourceTable,
}

struct KvData;

impl HasData for KvData {
    type Data<'a> = KvView<'a>;
}

/// Adds `wasi:keyvalue` to the linker; `view` gives an instance's part and resource table.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, KvData>(linker, view)?;
    atomics::add_to_linker::<T, KvData>(linker, view)?;
    batch::add_to_linker::<T, KvData>(linker, view)?;
    Ok(())
}

fn error(fault: KvFault) -> store::Error {
    match fault {
        KvFault::NotGranted(_) => store::Error::AccessDenied,
        other => store::Error::Other(other.to_string()),
    }
}

type Answer<T> = wasmtime::Result<Result<T, store::Error>>;

impl KvView<'_> {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<(Arc<KvApp>, String)> {
        let bucket = self.table.get(bucket)?;
        Ok((bucket.app.clone(), bucket.store.clone()))
    }
}

impl store::Host for KvView<'_> {
    async fn open(&mut self, identifier: String) -> Answer<Resource<Bucket>> {
        let app = match self.kv.open(&identifier) {
            Ok(app) => app.clone(),
            Err(fault) => return Ok(Err(error(fault))),
        };
        Ok(Ok(self.table.push(Bucket {
            app,
            store: identifier,
        })?))
    }
}

impl store::HostBucket for KvView<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Option<Vec<u8>>> {
        let (app, store) = self.bucket(&bucket)?;
        Ok(app
            .get(&store, &key)
            .await
            .map(|entry| entry.map(|e| e.value))
            .map_err(error))
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Answer<()> {
        let (app, store) = self.bucket(&bucket)?;
        let entry = Entry {
            value,
            metadata: None,
            expires_at: None,
        };
        Ok(app
            .put(&store, &key, entry, Expect::Any)
            .await
            .map(drop)
            .map_err(error))
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<()> {
        let (app, store) = self.bucket(&bucket)?;
        Ok(app.delete(&store, &key).await.map(drop).map_err(error))
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<bool> {
        let (app, store) = self.bucket(&bucket)?;
        Ok(app
            .get(&store, &key)
            .await
            .map(|e| e.is_some())
            .map_err(error))
    }

    /// Pages of [`MAX_LIST`] keys in bytewise order; the cursor is the number of keys before
    /// the page.
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Answer<store::KeyResponse> {
        let (app, store) = self.bucket(&bucket)?;
        let skip = cursor.unwrap_or(0);
        let mut after: Option<String> = None;
        let mut skipped = 0;
        loop {
            let page = match app.list(&store, "", after.as_deref(), MAX_LIST).await {
                Ok(page) => page,
                Err(fault) => return Ok(Err(error(fault))),
            };
            let full = page.len() == MAX_LIST as usize;
            if skipped + page.len() as u64 > skip || !full {
                let start = (skip - skipped).min(page.len() as u64) as usize;
                let keys: Vec<String> = page.into_iter().skip(start).map(|k| k.key).collect();
                let next = skipped + start as u64 + keys.len() as u64;
                // A full page may have more after it: the next call finds out.
                let cursor = full.then_some(next);
                return Ok(Ok(store::KeyResponse { keys, cursor }));
            }
            skipped += page.len() as u64;
            after = page.last().map(|k| k.key.clone());
        }
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Answer<u64> {
        let (app, store) = self.bucket(&bucket)?;
        let Ok(delta) = i64::try_from(delta) else {
            return Ok(Err(store::Error::Other(
                "the increment does not fit a 64-bit signed integer".into(),
            )));
        };
        // Unsigned: a result below zero is refused before anything is written.
        Ok(match app.increment(&store, &key, delta, true).await {
            Ok(n) => Ok(n.unsigned_abs()),
            Err(fault) => Err(error(fault)),
        })
    }
}

impl batch::Host for KvView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<Option<(String, Vec<u8>)>>> {
        let (app, store) = self.bucket(&bucket)?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            match app.get(&store, &key).await {
                Ok(entry) => values.push(entry.map(|e| (key, e.value))),
                Err(fault) => return Ok(Err(error(fault))),
            }
        }
        Ok(Ok(values))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let (app, store) = self.bucket(&bucket)?;
        for (key, value) in key_values {
            let entry = Entry {
                value,
                metadata: None,
                expires_at: None,
            };
            if let Err(fault) = app.put(&store, &key, entry, Expect::Any).await {
                return Ok(Err(error(fault)));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Answer<()> {
        let (app, store) = self.bucket(&bucket)?;
        for key in keys {
            if let Err(fault) = app.delete(&store, &key).await {
                return Ok(Err(error(fault)));
            }
        }
        Ok(Ok(()))
    }
}
