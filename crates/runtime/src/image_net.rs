//! The measured image's network, set up by the enclave itself over
//! rtnetlink: loopback up (an upstream engine listens there), the one
//! ethernet interface with the configured static address or one from the
//! platform's DHCP server (`image_dhcp`), and the default route. No DNS:
//! every address the enclave talks to is in its measured configuration.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use blindfold_enclave_config::{Addressing, NetworkConfig};
use futures_util::TryStreamExt;
use rtnetlink::{LinkUnspec, RouteMessageBuilder};

/// How long the network interface may take to appear.
const LINK_WAIT: Duration = Duration::from_secs(30);

/// The network as set up.
pub struct Network {
    /// The interface's name.
    pub interface: String,
    /// Loopback's interface index.
    pub loopback: u32,
    /// The interface's address and prefix length.
    pub address: (std::net::Ipv4Addr, u8),
    /// With DHCP: the client's socket, the interface's MAC and the lease,
    /// for `image_dhcp::keep`.
    pub dhcp: Option<(tokio::net::UdpSocket, [u8; 6], crate::image_dhcp::Lease)>,
}

/// Brings up loopback and the interface, with the configured address and
/// gateway, or those of a DHCP lease.
pub async fn configure(net: &NetworkConfig) -> anyhow::Result<Network> {
    let addressing = net.addressing()?;
    let (connection, handle, _) = rtnetlink::new_connection().context("opening rtnetlink")?;
    tokio::spawn(connection);

    let start = Instant::now();
    let (lo, eth, mac) = loop {
        let mut links = handle.link().get().execute();
        let (mut lo, mut eth, mut mac) = (None, None, None);
        while let Some(link) = links.try_next().await.context("listing network links")? {
            let name = link
                .attributes
                .iter()
                .find_map(|a| match a {
                    rtnetlink::packet_route::link::LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            if name == "lo" {
                lo = Some(link.header.index);
            } else if eth.is_none() {
                mac = link.attributes.iter().find_map(|a| match a {
                    rtnetlink::packet_route::link::LinkAttribute::Address(a) => {
                        <[u8; 6]>::try_from(a.as_slice()).ok()
                    }
                    _ => None,
                });
                eth = Some((link.header.index, name));
            }
        }
        if let (Some(lo), Some(eth)) = (lo, eth) {
            break (lo, eth, mac);
        }
        if start.elapsed() > LINK_WAIT {
            return Err(anyhow!(
                "no network interface appeared within {} s",
                LINK_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    handle
        .link()
        .set(LinkUnspec::new_with_index(lo).up().build())
        .execute()
        .await
        .context("bringing loopback up")?;
    let (index, name) = eth;
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .with_context(|| format!("bringing {name} up"))?;
    let (address, prefix, gateway, dhcp) = match addressing {
        Addressing::Static(address, prefix) => (address, prefix, net.gateway()?, None),
        Addressing::Dhcp => {
            let mac = mac.ok_or_else(|| anyhow!("{name} has no Ethernet address to ask DHCP with"))?;
            let socket = crate::image_dhcp::client_socket(&name)?;
            let lease = crate::image_dhcp::obtain(&socket, mac)
                .await
                .with_context(|| format!("asking for an address on {name} (DHCP)"))?;
            (
                lease.address,
                lease.prefix,
                lease.gateway,
                Some((socket, mac, lease)),
            )
        }
    };
    handle
        .address()
        .add(index, address.into(), prefix)
        .execute()
        .await
        .with_context(|| format!("adding {address}/{prefix} to {name}"))?;
    if let Some(gw) = gateway {
        let route = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .gateway(gw)
            .build();
        handle
            .route()
            .add(route)
            .execute()
            .await
            .with_context(|| format!("adding the default route via {gw}"))?;
    }
    Ok(Network {
        interface: name,
        loopback: lo,
        address: (address, prefix),
        dhcp,
    })
}

/// Test builds only: tries each `test_probe_connect` destination once and
/// logs whether a connection went through (the firewall should stop every
/// one that is not allowed).
#[cfg(debug_assertions)]
pub async fn probe(net: &NetworkConfig) {
    for dest in &net.test_probe_connect {
        let outcome =
            tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(dest)).await;
        let said = match outcome {
            Ok(Ok(_)) => "connected",
            Ok(Err(_)) => "refused",
            Err(_) => "no answer",
        };
        eprintln!("blindfold-enclave: test probe: {dest}: {said}");
    }
    if let Some(port) = net.test_probe_listen {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let listener = match tokio::net::TcpListener::bind(("0.0.0.0", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("blindfold-enclave: test probe: listening on {port}: {e}");
                return;
            }
        };
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(PROBE_ANSWER).await;
            }
        });
        let mut line = String::new();
        let answered = match tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            Ok(Ok(stream)) => {
                let mut reader = tokio::io::BufReader::new(stream);
                matches!(
                    tokio::time::timeout(Duration::from_secs(3), reader.read_line(&mut line)).await,
                    Ok(Ok(n)) if n > 0
                )
            }
            _ => false,
        };
        eprintln!(
            "blindfold-enclave: test probe: listener on port {port} {} over loopback",
            if answered { "answers" } else { "does not answer" }
        );
    }
}

/// What the test probe's listener says to each connection.
#[cfg(debug_assertions)]
const PROBE_ANSWER: &[u8] = b"blindfold-enclave test probe: reachable\n";
