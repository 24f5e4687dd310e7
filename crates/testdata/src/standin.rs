//! A fast stand-in for a GPU inference server: an OpenAI-compatible HTTP
//! endpoint on loopback that streams fixed tokens at a chosen rate, so
//! tests and benches measure the confidential path, not a model. Plain
//! threads, one per connection; it answers `GET /v1/models`, `GET /health`
//! and streaming `POST /v1/chat/completions` / `/v1/completions` (the
//! request's `max_tokens` tokens, default 16). A connection stays open for
//! the next request (HTTP/1.1 keep-alive, answers chunked) unless the
//! request says `connection: close` (then the answer ends with the
//! connection).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How the stand-in streams.
#[derive(Debug, Clone, Copy)]
pub struct StandIn {
    /// Time between tokens of one stream (zero: as fast as it can write).
    pub token_interval: Duration,
}

impl StandIn {
    /// Listens on a free loopback port and serves forever on background
    /// threads; returns the address.
    pub fn spawn(self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        std::thread::spawn(move || self.serve(listener));
        addr
    }

    /// Serves `listener` on this thread, forever.
    pub fn serve(self, listener: TcpListener) {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = self.answer(stream);
            });
        }
    }

    fn answer(self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        while self.answer_one(&mut reader, &mut out)? {}
        Ok(())
    }

    /// Answers one request; whether the connection stays open.
    fn answer_one(self, reader: &mut BufReader<TcpStream>, out: &mut TcpStream) -> std::io::Result<bool> {
        let Some(Request {
            method,
            path,
            body,
            close,
        }) = read_request(reader)?
        else {
            return Ok(false);
        };
        let (method, path) = (method.as_str(), path.as_str());
        let connection = if close { "close" } else { "keep-alive" };
        match (method, path) {
            ("GET", "/v1/models") | ("GET", "/health") => {
                let json = r#"{"object":"list","data":[{"id":"standin","object":"model"}]}"#;
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {connection}\r\n\r\n{json}",
                    json.len()
                )?;
            }
            ("POST", "/v1/chat/completions") | ("POST", "/v1/completions") => {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let tokens = request["max_tokens"].as_u64().unwrap_or(16);
                self.stream(out, path == "/v1/chat/completions", tokens, !close)?;
            }
            _ => {
                write!(
                    out,
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: {connection}\r\n\r\n"
                )?;
            }
        }
        Ok(!close)
    }

    /// Streams `tokens` events and the end; `chunked` for a connection
    /// kept open (the last events and the end in one write).
    fn stream(self, out: &mut TcpStream, chat: bool, tokens: u64, chunked: bool) -> std::io::Result<()> {
        let head: &[u8] = if chunked {
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
        };
        out.write_all(head)?;
        let frame = |event: &str| if chunked { chunk(event) } else { event.to_string() };
        let start = Instant::now();
        for i in 0..tokens {
            let due = start + self.token_interval * (i as u32);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let event = if chat {
                format!("data: {{\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i} \"}},\"finish_reason\":null}}]}}\n\n")
            } else {
                format!("data: {{\"id\":\"s\",\"object\":\"text_completion\",\"choices\":[{{\"index\":0,\"text\":\"t{i} \",\"finish_reason\":null}}]}}\n\n")
            };
            out.write_all(frame(&event).as_bytes())?;
        }
        let finish = if chat {
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#
        } else {
            r#"{"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#
        };
        let last = format!(
            "data: {finish}\n\ndata: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":4,\"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
            tokens + 4
        );
        let mut last = frame(&last);
        if chunked {
            last.push_str("0\r\n\r\n");
        }
        out.write_all(last.as_bytes())?;
        out.flush()
    }
}

/// One HTTP/1.1 request as a test server reads it.
#[derive(Debug)]
pub struct Request {
    /// Its method.
    pub method: String,
    /// Its path.
    pub path: String,
    /// Its body (`content-length` bytes).
    pub body: Vec<u8>,
    /// It asked for `connection: close`.
    pub close: bool,
}

/// Reads one request (request line, headers, `content-length` bytes of
/// body); `None` when the connection ended before one began.
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let (mut length, mut close) = (0usize, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            close |= k.trim().eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close");
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        body,
        close,
    }))
}

/// `data` as one chunk of a chunked body.
pub fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// Reads an HTTP/1.1 response's body as it arrives, undoing chunked
/// transfer encoding (a proxy re-chunks what it forwards, so a chunk may
/// end in the middle of an event line).
pub struct ResponseBody<R> {
    inner: R,
    chunked: bool,
    left_in_chunk: usize,
    done: bool,
}

impl<R: BufRead> ResponseBody<R> {
    /// Reads the status line and headers from `inner`; returns the status
    /// line and the body reader.
    pub fn new(mut inner: R) -> std::io::Result<(String, ResponseBody<R>)> {
        let mut status = String::new();
        inner.read_line(&mut status)?;
        let mut chunked = false;
        loop {
            let mut header = String::new();
            if inner.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                chunked |= k.trim().eq_ignore_ascii_case("transfer-encoding")
                    && v.to_ascii_lowercase().contains("chunked");
            }
        }
        Ok((
            status.trim().to_string(),
            ResponseBody {
                inner,
                chunked,
                left_in_chunk: 0,
                done: false,
            },
        ))
    }
}

impl<R: BufRead> Read for ResponseBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.chunked {
            return self.inner.read(buf);
        }
        if self.done {
            return Ok(0);
        }
        if self.left_in_chunk == 0 {
            let mut size = String::new();
            self.inner.read_line(&mut size)?;
            if size.trim().is_empty() {
                // The CRLF that ends the previous chunk.
                size.clear();
                self.inner.read_line(&mut size)?;
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
            if n == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left_in_chunk = n;
        }
        let want = buf.len().min(self.left_in_chunk);
        let got = self.inner.read(&mut buf[..want])?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left_in_chunk -= got;
        Ok(got)
    }
}
