//! The checks every request passes before a handler sees it, and the
//! headers every answer carries.
//!
//! In order: the `Host` names this console (a page on another site cannot
//! reach it by DNS rebinding); a browser's `Sec-Fetch-Site` is
//! `same-origin` or `none` and its `Origin`, when sent, is this console's;
//! a call that changes state (anything but GET) carries the page's CSRF
//! token in `X-Blindfold-Csrf` (a custom header: another origin's page
//! cannot send it without a CORS grant, and this server grants none);
//! owner routes carry `Authorization: Bearer` with the owner's token,
//! compared by its SHA-256 in constant time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{refuse, ApiError, Console};

/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-blindfold-csrf";

/// The Content-Security-Policy of every answer: only this console's own
/// script, style and API; no inline script, no frames, no forms elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) struct Guard {
    hosts: Vec<String>,
    origins: Vec<String>,
    csrf: String,
}

impl Guard {
    pub(crate) fn new(local: SocketAddr, tls: bool, names: &[String]) -> Result<Guard, String> {
        let port = local.port();
        let mut hosts = vec![local.to_string()];
        if local.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
        }
        hosts.extend(names.iter().map(|n| format!("{n}:{port}")));
        let scheme = if tls { "https" } else { "http" };
        let origins = hosts.iter().map(|h| format!("{scheme}://{h}")).collect();
        let mut random = [0u8; 32];
        getrandom::getrandom(&mut random).map_err(|e| format!("no randomness for the CSRF token: {e}"))?;
        Ok(Guard {
            hosts,
            origins,
            csrf: hex::encode(random),
        })
    }

    pub(crate) fn csrf_token(&self) -> &str {
        &self.csrf
    }

    fn check_site(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("");
        if !self.hosts.iter().any(|h| h == host) {
            return Err(refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "the Host header does not name this console (DNS rebinding protection)",
            ));
        }
        if let Some(site) = headers.get("sec-fetch-site") {
            if !matches!(site.to_str().unwrap_or(""), "same-origin" | "none") {
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "requests from other sites' web pages are refused",
                ));
            }
        }
        if let Some(origin) = headers.get("origin") {
            let origin = origin.to_str().unwrap_or("");
            if !self.origins.iter().any(|o| o == origin) {
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "requests from web pages of other origins are refused",
                ));
            }
        }
        Ok(())
    }

    fn check_csrf(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let sent = headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if blindfold_crypto::ct_eq(sent, self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(refuse(
                StatusCode::FORBIDDEN,
                "this call changes state and needs the console page's CSRF token",
            ))
        }
    }
}

fn check_owner(console: &Console, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(owner) = &console.config.owner else {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "the owner's pages are off: the console was started without the owner's stores",
        ));
    };
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    match blindfold_kbs::check_owner_token(header, Some(&owner.owner_token_sha256)) {
        blindfold_kbs::OwnerAuth::Allowed => Ok(()),
        _ => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "the owner's token is missing or wrong",
        )),
    }
}

/// The middleware: refuses what fails a check, and adds the security
/// headers to every answer.
pub(crate) async fn check(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let path = request.uri().path();
    let checked = console
        .guard
        .check_site(headers)
        .and_then(|()| {
            if request.method() == Method::GET || request.method() == Method::HEAD {
                Ok(())
            } else {
                console.guard.check_csrf(headers)
            }
        })
        .and_then(|()| {
            if path.starts_with("/api/owner/") {
                check_owner(&console, headers)
            } else {
                Ok(())
            }
        });
    let mut response = match checked {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    };
    let h = response.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    response
}
