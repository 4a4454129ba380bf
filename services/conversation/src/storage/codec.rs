//! The few column types that differ between the backends, behind one trait:
//! PostgreSQL stores `timestamptz`, `uuid` and `INTEGER` counters; SQLite
//! stores INTEGER microseconds (UTC), UUID text and 64-bit integers.

use chrono::{DateTime, Utc};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use uuid::Uuid;

/// A column type both bound to queries and read back.
pub trait Column<DB: sqlx::Database>:
    for<'a> Encode<'a, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + 'static
{
}

impl<DB: sqlx::Database, T> Column<DB> for T where
    T: for<'a> Encode<'a, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + 'static
{
}

pub trait Codec: sqlx::Database {
    type Time: Column<Self>;
    type Id: Column<Self>;
    /// The small counters (`message_count`, `attempts`).
    type Count: Column<Self> + Into<i64>;

    /// Starts a transaction that writes (SQLite takes the write lock at once,
    /// so two writers queue instead of failing on a lock upgrade).
    const BEGIN_WRITE: &'static str;

    fn time(t: DateTime<Utc>) -> Self::Time;
    fn read_time(v: Self::Time) -> Option<DateTime<Utc>>;
    fn id(u: Uuid) -> Self::Id;
    fn read_id(v: Self::Id) -> Option<Uuid>;
    fn count(n: u32) -> Self::Count;
    /// sqlx has no common trait for a statement's outcome.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

impl Codec for Postgres {
    type Time = DateTime<Utc>;
    type Id = Uuid;
    type Count = i32;

    const BEGIN_WRITE: &'static str = "BEGIN";

    fn time(t: DateTime<Utc>) -> Self::Time {
        t
    }
    fn read_time(v: Self::Time) -> Option<DateTime<Utc>> {
        Some(v)
    }
    fn id(u: Uuid) -> Self::Id {
        u
    }
    fn read_id(v: Self::Id) -> Option<Uuid> {
        Some(v)
    }
    fn count(n: u32) -> Self::Count {
        i32::try_from(n).unwrap_or(i32::MAX)
    }
    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }
}

impl Codec for Sqlite {
    type Time = i64;
    type Id = String;
    type Count = i64;

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    fn time(t: DateTime<Utc>) -> Self::Time {
        t.timestamp_micros()
    }
    fn read_time(v: Self::Time) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(v)
    }
    fn id(u: Uuid) -> Self::Id {
        u.as_hyphenated().to_string()
    }
    fn read_id(v: Self::Id) -> Option<Uuid> {
        Uuid::parse_str(&v).ok()
    }
    fn count(n: u32) -> Self::Count {
        i64::from(n)
    }
    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }
}
