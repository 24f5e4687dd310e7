//! The HTTP/1.1 connection under an attested session, as a value: whoever
//! uses the session can drive it in its own task instead of giving it a
//! task of its own (`blindfold-driven-http` says why).

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Connection =
    hyper::client::conn::http1::Connection<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>, Full<Bytes>>;

/// An attested session's connection, while it is open. Requests on the
/// session make progress only while it is driven (or runs).
pub type SessionConnection = blindfold_driven_http::Driven<Connection>;
