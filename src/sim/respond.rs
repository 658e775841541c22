//! The simulator's response helpers, shared by every dialect's routes: Drata-style JSON
//! bodies and NestJS-shaped errors (`{"name","statusCode","message","code"}`), and the
//! `page`/`limit` query parsing the guide and v1 share. Knows nothing of routes or faults.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AccountFault;

const JSON: &str = "application/json; charset=utf-8";

pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response()
}

/// A Drata-style error: `{"name":..,"statusCode":..,"message":..,"code":0}`.
pub(crate) fn error(status: StatusCode, name: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "name": name,
        "statusCode": status.as_u16(),
        "message": message,
        "code": 0,
    });
    json_bytes(status, serde_json::to_vec(&body).unwrap_or_default())
}

pub(crate) fn unauthorized(message: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "UnauthorizedException", message);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// A Drata-style JSON body.
pub(crate) fn json_value(v: Value) -> Response {
    json_bytes(StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default())
}

/// The account-level refusals Drata sends on every operation (402 plan, 412 terms).
pub(crate) fn account_rejection(f: AccountFault) -> Response {
    match f {
        AccountFault::PlanUpgradeRequired => error(
            StatusCode::PAYMENT_REQUIRED,
            "PaymentRequiredException",
            "You must upgrade your plan to use this feature",
        ),
        AccountFault::TermsNotAccepted => error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            "You must accept the Drata terms and conditions to use the API",
        ),
    }
}

pub(crate) fn not_found(message: &str) -> Response {
    error(StatusCode::NOT_FOUND, "NotFoundException", message)
}

pub(crate) fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

/// Parse `page` (default 1) and `limit` (default 25, clamped to `max_limit`).
pub(crate) fn parse_paging(query: Option<&str>, max_limit: u64) -> Result<(u64, u64), String> {
    // Digits only; a value too large for u64 saturates (a huge page is past the end, a
    // huge limit is clamped) rather than being an error.
    fn positive(name: &str, v: &str) -> Result<u64, String> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{name} must be a positive integer"));
        }
        let n = v.parse::<u64>().unwrap_or(u64::MAX);
        if n < 1 {
            return Err(format!("{name} must not be less than 1"));
        }
        Ok(n)
    }
    let mut page = 1;
    let mut limit = 25;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "page" => page = positive("page", v.trim())?,
            "limit" => limit = positive("limit", v.trim())?,
            _ => {}
        }
    }
    Ok((page, limit.min(100).min(max_limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_params() {
        assert_eq!(parse_paging(None, 100), Ok((1, 25)));
        assert_eq!(parse_paging(Some("page=3&limit=100"), 100), Ok((3, 100)));
        assert_eq!(parse_paging(Some("limit=1000"), 100), Ok((1, 100)));
        assert_eq!(parse_paging(Some("limit=100"), 50), Ok((1, 50)));
        assert_eq!(parse_paging(Some("limit=99999999999999999999999"), 100), Ok((1, 100)));
        for bad in ["page=0", "limit=0", "page=-1", "limit=abc", "page=", "limit=1.5"] {
            assert!(parse_paging(Some(bad), 100).is_err(), "{bad}");
        }
    }
}
