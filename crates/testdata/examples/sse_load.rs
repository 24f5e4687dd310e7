//! A streaming load client for the benches: STREAMS concurrent clients,
//! each sending REQUESTS streamed chat requests of TOKENS tokens one after
//! another to an OpenAI-compatible endpoint over plain HTTP, and one JSON
//! line of results: tokens/s, time to first token and inter-token latency
//! (p50, p99), errors.
//!
//!     sse_load HOST:PORT STREAMS REQUESTS TOKENS

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Outcome {
    ttft: Vec<Duration>,
    itl: Vec<Duration>,
    tokens: u64,
    errors: u64,
}

fn one(addr: &str, tokens: u32, out: &mut Outcome) -> std::io::Result<()> {
    let body = format!(
        r#"{{"model":"standin","stream":true,"max_tokens":{tokens},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let mut tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
    let started = Instant::now();
    write!(
        tcp,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let (status, body) = blindfold_testdata::standin::ResponseBody::new(BufReader::new(tcp))?;
    let mut reader = BufReader::new(body);
    let mut line = String::new();
    let mut last: Option<Instant> = None;
    let (mut got, mut done) = (0u32, false);
    let mut error = String::new();
    while reader.read_line(&mut line)? > 0 {
        if error.is_empty() && line.contains("\"error\"") {
            error = line.trim().chars().take(300).collect();
        }
        if line.starts_with("data: ") && line.contains("\"content\":\"t") {
            let now = Instant::now();
            match last {
                None => out.ttft.push(now - started),
                Some(l) => out.itl.push(now - l),
            }
            last = Some(now);
            got += 1;
        }
        done |= line.starts_with("data: [DONE]");
        line.clear();
    }
    out.tokens += u64::from(got);
    if got != tokens || !done {
        out.errors += 1;
        if out.errors == 1 {
            eprintln!("sse_load: a stream ended after {got} of {tokens} tokens, [DONE] seen: {done}; {status}; {error}");
        }
    }
    Ok(())
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |i: usize| args.get(i).and_then(|a| a.parse::<u32>().ok());
    let (Some(addr), Some(streams), Some(requests), Some(tokens)) =
        (args.first().cloned(), parse(1), parse(2), parse(3))
    else {
        eprintln!("usage: sse_load HOST:PORT STREAMS REQUESTS TOKENS");
        std::process::exit(2);
    };
    let started = Instant::now();
    let handles: Vec<_> = (0..streams)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut out = Outcome::default();
                for _ in 0..requests {
                    if let Err(e) = one(&addr, tokens, &mut out) {
                        out.errors += 1;
                        eprintln!("sse_load: {e}");
                    }
                }
                out
            })
        })
        .collect();
    let mut all = Outcome::default();
    for h in handles {
        let o = h.join().expect("client thread");
        all.ttft.extend(o.ttft);
        all.itl.extend(o.itl);
        all.tokens += o.tokens;
        all.errors += o.errors;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"streams\":{streams},\"tokens\":{},\"seconds\":{seconds:.3},\"tok_s\":{:.1},\"ttft_p50_ms\":{:.3},\"ttft_p99_ms\":{:.3},\"itl_p50_ms\":{:.3},\"itl_p99_ms\":{:.3},\"errors\":{}}}",
        all.tokens,
        all.tokens as f64 / seconds,
        percentile(&mut all.ttft, 0.5),
        percentile(&mut all.ttft, 0.99),
        percentile(&mut all.itl, 0.5),
        percentile(&mut all.itl, 0.99),
        all.errors
    );
}
