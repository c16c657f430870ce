//! Cursor pagination, used by every list.
//!
//! A request takes `?limit=` (1–200, default 50) and `?cursor=` (opaque: the URL-safe base64 of
//! the JSON sort key of the last item of the previous page). A response is a [`Page`]:
//! `{ "items": [...], "next_cursor": "…" | null }`; `null` means the end.
//!
//! In a handler: `let limit = params.limit()?; let after: Option<K> = params.after()?;`, fetch
//! `limit + 1` rows ordered by the key after `after`, then `Page::from_rows(rows, limit, key)`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// `?cursor=&limit=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `next_cursor` of the previous page; omit for the first page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl PageParams {
    /// The page size, checked.
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(i64::from(DEFAULT_LIMIT)),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(i64::from(n)),
            Some(_) => Err(ApiError::invalid_field(
                "limit",
                format!("use a limit between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The key after which this page starts, decoded from the cursor.
    pub fn after<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

/// Encodes a sort key as an opaque cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "cursor",
            "not a cursor from this API; pass back `next_cursor` unchanged",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// From `limit + 1` fetched rows: keeps `limit`, and makes a cursor from the last kept
    /// row's key when there were more.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_a_422() {
        let c = encode_cursor(&(42i64, "x"));
        assert_eq!(
            decode_cursor::<(i64, String)>(&c).unwrap(),
            (42, "x".into())
        );
        assert!(matches!(
            decode_cursor::<i64>("%%%"),
            Err(ApiError::Validation(_))
        ));
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |x| *x);
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(
            decode_cursor::<i32>(p.next_cursor.as_deref().unwrap()).unwrap(),
            2
        );
        assert!(Page::from_rows(vec![1, 2], 2, |x| *x).next_cursor.is_none());
    }

    #[test]
    fn the_limit_defaults_to_50_and_is_bounded() {
        assert_eq!(PageParams::default().limit().unwrap(), 50);
        let p = |n| PageParams {
            cursor: None,
            limit: Some(n),
        };
        assert!(p(0).limit().is_err());
        assert!(p(201).limit().is_err());
        assert_eq!(p(200).limit().unwrap(), 200);
    }
}
