//! The redb layout of the disk-resident embedded store, and the encodings of what it holds.
//!
//! In: table names, encoded keys, records and documents. Out: redb table definitions, stored
//! bytes and their decoding.
//!
//! Layout (one file, `fdc.redb`; the tables of the earlier in-memory persisted store keep
//! their names and formats, so its directories open as they are):
//! - `p/<projection>`: encoded primary key -> postcard of [`Record`];
//! - `i/<projection>/<field,field>`: encoded field tuple followed by the encoded primary key
//!   -> `()` (a secondary index; the tuple encoding is self-delimiting, so the entries of one
//!   tuple are exactly the keys starting with its bytes);
//! - `index_defs`: index table name -> postcard of `(projection, fields)`;
//! - `u/<projection>/<field,field>`: a unique index ([`crate::embedded`]'s `unique`): index
//!   key -> the encoded primary key of the record holding it; `unique_defs`: its table name ->
//!   postcard of `(projection, fields)`;
//! - `v/<view>`: encoded view key -> postcard of `(key, document)`;
//! - `dead_letters`, `view_failures`: sequence -> JSON text; `checkpoints`: stream -> position;
//! - `deployment`: `"record"` -> the deployed plan's record (JSON text, `fdc_plan::deployment`).

use redb::{ReadTransaction, ReadableDatabase, TableDefinition, TableError, TableHandle};

use fdc_core::store::{Record, StoreError};
use fdc_core::value::{Map, Value};

pub const DEAD_LETTERS: TableDefinition<u64, &[u8]> = TableDefinition::new("dead_letters");
pub const FAILURES: TableDefinition<u64, &[u8]> = TableDefinition::new("view_failures");
pub const CHECKPOINTS: TableDefinition<&str, i64> = TableDefinition::new("checkpoints");
pub const DEPLOYMENT: TableDefinition<&str, &str> = TableDefinition::new("deployment");
/// The one key of [`DEPLOYMENT`].
pub const DEPLOYMENT_KEY: &str = "record";
pub const INDEX_DEFS: TableDefinition<&str, &[u8]> = TableDefinition::new("index_defs");
pub const UNIQUE_DEFS: TableDefinition<&str, &[u8]> = TableDefinition::new("unique_defs");

/// A table of encoded keys to postcard bytes (records, documents).
pub type BytesDef<'n> = TableDefinition<'n, &'static [u8], &'static [u8]>;
/// A secondary index table.
pub type IndexDef<'n> = TableDefinition<'n, &'static [u8], ()>;

/// A single-view document with its key.
pub type KeyedDoc = (Vec<Value>, Map);

/// A store error for `op` (redb, postcard and JSON errors name no record contents).
pub fn err(op: &str, e: impl ToString) -> StoreError {
    StoreError::fatal(op, e)
}

/// Name of the record table of `projection`.
pub fn records_table(projection: &str) -> String {
    format!("p/{projection}")
}

/// Name of the document table of `view`.
pub fn view_table(view: &str) -> String {
    format!("v/{view}")
}

/// Name of the index table of `projection` on `fields`.
pub fn index_table(projection: &str, fields: &[String]) -> String {
    format!("i/{projection}/{}", fields.join(","))
}

/// Name of the unique-index table of `projection` on `fields`.
pub fn unique_table(projection: &str, fields: &[String]) -> String {
    format!("u/{projection}/{}", fields.join(","))
}

/// Opens a table for reading; `None` when it was never created.
pub fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<'_, K, V>,
    op: &str,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(err(op, e)),
    }
}

/// Names of the tables whose names start with `prefix`, without it.
pub fn names_with_prefix(db: &redb::Database, prefix: &str) -> Result<Vec<String>, StoreError> {
    let op = "list store tables";
    let txn = db.begin_read().map_err(|e| err(op, e))?;
    let mut names: Vec<String> = txn
        .list_tables()
        .map_err(|e| err(op, e))?
        .filter_map(|t| t.name().strip_prefix(prefix).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// The stored bytes of a record.
pub fn encode_record(r: &Record, op: &str) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(r).map_err(|e| err(op, e))
}

/// A record from its stored bytes.
pub fn decode_record(bytes: &[u8], op: &str) -> Result<Record, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| err(op, e))
}

/// The stored bytes of a keyed document.
pub fn encode_doc(key: &[Value], doc: &Map, op: &str) -> Result<Vec<u8>, StoreError> {
    // Same bytes as a `(Vec<Value>, Map)`: a slice and a `Vec` serialize alike.
    postcard::to_stdvec(&(key, doc)).map_err(|e| err(op, e))
}

/// A keyed document from its stored bytes.
pub fn decode_doc(bytes: &[u8], op: &str) -> Result<KeyedDoc, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| err(op, e))
}

/// Only the key of a stored keyed document (postcard writes the tuple's parts one after the
/// other, so the document need not be decoded).
pub fn decode_doc_key(bytes: &[u8], op: &str) -> Result<Vec<Value>, StoreError> {
    postcard::take_from_bytes::<Vec<Value>>(bytes)
        .map(|(k, _)| k)
        .map_err(|e| err(op, e))
}

/// The index entry of a record: its tuple, then its primary key.
pub fn index_entry(tuple: &[u8], pk: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(tuple.len() + pk.len());
    e.extend_from_slice(tuple);
    e.extend_from_slice(pk);
    e
}
