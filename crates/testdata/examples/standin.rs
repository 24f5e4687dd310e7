//! The fast stand-in engine as a process, for the benches:
//!
//!     standin PORT TOKEN_INTERVAL_US
//!
//! Streams fixed tokens at one per TOKEN_INTERVAL_US per stream (0: as fast
//! as it can write) on 127.0.0.1:PORT (0: a free port, printed).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(port), Some(interval)) = (
        args.first().and_then(|p| p.parse::<u16>().ok()),
        args.get(1).and_then(|i| i.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: standin PORT TOKEN_INTERVAL_US");
        std::process::exit(2);
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("listening");
    println!("{}", listener.local_addr().expect("address"));
    blindfold_testdata::standin::StandIn {
        token_interval: std::time::Duration::from_micros(interval),
    }
    .serve(listener);
}
