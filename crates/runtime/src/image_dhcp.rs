//! DHCPv4 for a measured image whose configuration says `"address":
//! "dhcp"` (as on a cloud, where the platform assigns the address): the
//! enclave asks the platform's server for an address, the subnet mask and
//! a router, takes nothing else (no DNS, no routes, no host name: every
//! destination it talks to is in its measured configuration), and renews
//! the lease at T1 (unicast), then rebinds from T2 (broadcast); a lease that
//! ends, or a server that moves it to another address, stops the enclave.
//!
//! The messages (RFC 2131, options of RFC 2132) are written here, client
//! side only, every length checked: `dhcproto`, the crate for them, links a
//! DNS stack into the enclave, which stays small; it is this module's test
//! oracle instead.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use anyhow::{anyhow, Context};

const CLIENT_PORT: u16 = 68;
const SERVER_PORT: u16 = 67;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// The fixed BOOTP part before the magic cookie.
const FIXED: usize = 236;
/// Attempts per exchange and how long each waits for its answer.
const ATTEMPTS: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_secs(2);

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// DHCPDISCOVER.
    Discover = 1,
    /// DHCPOFFER.
    Offer = 2,
    /// DHCPREQUEST.
    Request = 3,
    /// DHCPACK.
    Ack = 5,
    /// DHCPNAK.
    Nak = 6,
}

mod option {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const REQUESTED_ADDRESS: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETERS: u8 = 55;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const END: u8 = 255;
}

/// A client message: DISCOVER, or REQUEST (selecting an offer, or renewing
/// the lease on `ciaddr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// DISCOVER or REQUEST.
    pub kind: Kind,
    /// The exchange's transaction id.
    pub xid: u32,
    /// The interface's MAC address.
    pub mac: [u8; 6],
    /// The address being renewed (renewing or rebinding), else none.
    pub ciaddr: Option<Ipv4Addr>,
    /// The offered address being requested (selecting), else none.
    pub requested: Option<Ipv4Addr>,
    /// The server whose offer is taken (selecting), else none.
    pub server: Option<Ipv4Addr>,
}

impl ClientMessage {
    /// The message's bytes: BOOTREQUEST over Ethernet, the broadcast flag
    /// set unless renewing (the client has no address to be answered on),
    /// then the options.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; FIXED];
        b[0] = 1; // BOOTREQUEST
        b[1] = 1; // Ethernet
        b[2] = 6;
        b[4..8].copy_from_slice(&self.xid.to_be_bytes());
        if self.ciaddr.is_none() {
            b[10] = 0x80; // broadcast
        }
        if let Some(ciaddr) = self.ciaddr {
            b[12..16].copy_from_slice(&ciaddr.octets());
        }
        b[28..34].copy_from_slice(&self.mac);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&[option::MESSAGE_TYPE, 1, self.kind as u8]);
        if let Some(requested) = self.requested {
            b.extend_from_slice(&[option::REQUESTED_ADDRESS, 4]);
            b.extend_from_slice(&requested.octets());
        }
        if let Some(server) = self.server {
            b.extend_from_slice(&[option::SERVER_ID, 4]);
            b.extend_from_slice(&server.octets());
        }
        b.extend_from_slice(&[option::PARAMETERS, 2, option::SUBNET_MASK, option::ROUTER]);
        b.push(option::END);
        b
    }
}

/// What a server's OFFER, ACK or NAK says that the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    /// OFFER, ACK or NAK.
    pub kind: Kind,
    /// The address offered or acknowledged (`yiaddr`).
    pub address: Ipv4Addr,
    /// The server identifier (option 54).
    pub server: Option<Ipv4Addr>,
    /// The subnet mask (option 1).
    pub mask: Option<Ipv4Addr>,
    /// The first router (option 3).
    pub router: Option<Ipv4Addr>,
    /// Lease, renewal (T1) and rebinding (T2) times in seconds.
    pub lease_secs: Option<u32>,
    /// T1.
    pub renew_secs: Option<u32>,
    /// T2.
    pub rebind_secs: Option<u32>,
}

/// Parses a server's answer to the exchange `xid` from the interface
/// `mac`; anything else (a BOOTREQUEST, another exchange, another client,
/// a message type the client does not take) is `None`, and a malformed
/// message an error.
pub fn parse_reply(bytes: &[u8], xid: u32, mac: [u8; 6]) -> anyhow::Result<Option<ServerMessage>> {
    if bytes.len() < FIXED + MAGIC.len() {
        return Err(anyhow!("a DHCP message of {} bytes is too short", bytes.len()));
    }
    if bytes[0] != 2 || bytes[4..8] != xid.to_be_bytes() || bytes[28..34] != mac {
        return Ok(None);
    }
    if bytes[1] != 1 || bytes[2] != 6 {
        return Err(anyhow!(
            "a DHCP answer for hardware type {} length {}",
            bytes[1],
            bytes[2]
        ));
    }
    if bytes[FIXED..FIXED + 4] != MAGIC {
        return Err(anyhow!("a DHCP answer without the magic cookie"));
    }
    let address = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
    let mut reply = ServerMessage {
        kind: Kind::Nak,
        address,
        server: None,
        mask: None,
        router: None,
        lease_secs: None,
        renew_secs: None,
        rebind_secs: None,
    };
    let mut kind = None;
    let mut rest = &bytes[FIXED + 4..];
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            option::PAD => {
                rest = tail;
                continue;
            }
            option::END => break,
            _ => {}
        }
        let (&len, tail) = tail
            .split_first()
            .ok_or_else(|| anyhow!("DHCP option {code} has no length"))?;
        let len = usize::from(len);
        if tail.len() < len {
            return Err(anyhow!("DHCP option {code} runs past the message"));
        }
        let (value, tail) = tail.split_at(len);
        rest = tail;
        let addr = || -> anyhow::Result<Ipv4Addr> {
            let octets: [u8; 4] = value
                .get(..4)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| anyhow!("DHCP option {code} is {len} bytes, not an address"))?;
            Ok(Ipv4Addr::from(octets))
        };
        let secs = || -> anyhow::Result<u32> {
            let b: [u8; 4] = value
                .try_into()
                .map_err(|_| anyhow!("DHCP option {code} is {len} bytes, not 4"))?;
            Ok(u32::from_be_bytes(b))
        };
        match code {
            option::MESSAGE_TYPE => kind = value.first().copied(),
            option::SERVER_ID => reply.server = Some(addr()?),
            option::SUBNET_MASK => reply.mask = Some(addr()?),
            option::ROUTER => reply.router = Some(addr()?),
            option::LEASE_TIME => reply.lease_secs = Some(secs()?),
            option::RENEWAL_TIME => reply.renew_secs = Some(secs()?),
            option::REBINDING_TIME => reply.rebind_secs = Some(secs()?),
            _ => {}
        }
    }
    reply.kind = match kind {
        Some(2) => Kind::Offer,
        Some(5) => Kind::Ack,
        Some(6) => Kind::Nak,
        _ => return Ok(None),
    };
    Ok(Some(reply))
}

/// A lease as the enclave uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The interface's address.
    pub address: Ipv4Addr,
    /// The prefix length of the subnet mask.
    pub prefix: u8,
    /// The default gateway, if the server names a router.
    pub gateway: Option<Ipv4Addr>,
    /// The server that granted it.
    pub server: Ipv4Addr,
    /// How long it lasts, and when to renew (T1) and rebind (T2).
    pub lasts: Duration,
    /// T1.
    pub renew: Duration,
    /// T2.
    pub rebind: Duration,
}

impl Lease {
    /// The lease an ACK grants: its address, a contiguous subnet mask, its
    /// server and times (T1 and T2 default to 1/2 and 7/8 of the lease).
    pub fn from_ack(ack: &ServerMessage, server: Ipv4Addr) -> anyhow::Result<Lease> {
        if ack.kind != Kind::Ack {
            return Err(anyhow!("the DHCP server answered {:?}, not an ACK", ack.kind));
        }
        if ack.address.is_unspecified() || ack.address.is_broadcast() {
            return Err(anyhow!("the DHCP server granted the address {}", ack.address));
        }
        let mask = ack
            .mask
            .ok_or_else(|| anyhow!("the DHCP server's ACK has no subnet mask"))?;
        let bits = u32::from(mask);
        let prefix = bits.leading_ones();
        if bits.checked_shl(prefix).unwrap_or(0) != 0 || prefix == 0 {
            return Err(anyhow!("the DHCP server's subnet mask {mask} is not a prefix"));
        }
        let lease = ack
            .lease_secs
            .ok_or_else(|| anyhow!("the DHCP server's ACK has no lease time"))?;
        let lasts = Duration::from_secs(u64::from(lease));
        let renew = ack
            .renew_secs
            .map_or(lasts / 2, |s| Duration::from_secs(u64::from(s)));
        let rebind = ack
            .rebind_secs
            .map_or(lasts * 7 / 8, |s| Duration::from_secs(u64::from(s)));
        Ok(Lease {
            address: ack.address,
            prefix: prefix as u8,
            gateway: ack.router,
            server: ack.server.unwrap_or(server),
            lasts,
            renew: renew.min(lasts),
            rebind: rebind.min(lasts),
        })
    }
}

/// A UDP socket on port 68 bound to `interface` (so broadcasts leave
/// through it before it has an address) that may broadcast.
pub fn client_socket(interface: &str) -> anyhow::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).context("opening the DHCP socket")?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .with_context(|| format!("binding the DHCP socket to {interface}"))?;
    socket
        .bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT).into())
        .context("binding UDP port 68")?;
    socket.set_nonblocking(true)?;
    Ok(tokio::net::UdpSocket::from_std(socket.into())?)
}

/// Sends `message` to `to` and waits for the server's answer to it,
/// resending with doubling waits; `None` when no answer came.
async fn exchange(
    socket: &tokio::net::UdpSocket,
    message: &ClientMessage,
    to: Ipv4Addr,
) -> anyhow::Result<Option<(ServerMessage, Ipv4Addr)>> {
    let bytes = message.to_bytes();
    let mut wait = FIRST_WAIT;
    let mut buf = vec![0u8; 1500];
    for _ in 0..ATTEMPTS {
        socket
            .send_to(&bytes, SocketAddrV4::new(to, SERVER_PORT))
            .await
            .context("sending a DHCP message")?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
            let Ok(received) = received else { break };
            let (n, from) = received.context("receiving a DHCP message")?;
            let from = match from.ip() {
                std::net::IpAddr::V4(ip) => ip,
                std::net::IpAddr::V6(_) => continue,
            };
            match parse_reply(&buf[..n], message.xid, message.mac) {
                Ok(Some(reply)) => return Ok(Some((reply, from))),
                Ok(None) => {}
                Err(e) => eprintln!("blindfold-enclave: DHCP: ignoring a malformed answer from {from}: {e}"),
            }
        }
        wait *= 2;
    }
    Ok(None)
}

fn xid() -> anyhow::Result<u32> {
    let mut b = [0u8; 4];
    getrandom::getrandom(&mut b).map_err(|e| anyhow!("random transaction id: {e}"))?;
    Ok(u32::from_ne_bytes(b))
}

/// DISCOVER, OFFER, REQUEST, ACK on `socket` for the interface `mac`.
pub async fn obtain(socket: &tokio::net::UdpSocket, mac: [u8; 6]) -> anyhow::Result<Lease> {
    let xid = xid()?;
    let discover = ClientMessage {
        kind: Kind::Discover,
        xid,
        mac,
        ciaddr: None,
        requested: None,
        server: None,
    };
    let (offer, from) = exchange(socket, &discover, Ipv4Addr::BROADCAST)
        .await?
        .ok_or_else(|| anyhow!("no DHCP server answered"))?;
    if offer.kind != Kind::Offer {
        return Err(anyhow!(
            "the DHCP server answered a DISCOVER with {:?}",
            offer.kind
        ));
    }
    let server = offer.server.unwrap_or(from);
    let request = ClientMessage {
        kind: Kind::Request,
        xid,
        mac,
        ciaddr: None,
        requested: Some(offer.address),
        server: Some(server),
    };
    let (ack, _) = exchange(socket, &request, Ipv4Addr::BROADCAST)
        .await?
        .ok_or_else(|| anyhow!("the DHCP server did not answer the REQUEST for {}", offer.address))?;
    Lease::from_ack(&ack, server)
}

/// Keeps `lease` for as long as the enclave runs: renews it at T1 with its
/// server, rebinds from T2 with any server, and returns an error (the
/// enclave then stops) when it ends, is refused, or moves.
pub async fn keep(socket: tokio::net::UdpSocket, mac: [u8; 6], mut lease: Lease) -> anyhow::Error {
    loop {
        lease = match renew(&socket, mac, &lease).await {
            Ok(next) => next,
            Err(e) => return e,
        };
        eprintln!(
            "blindfold-enclave: DHCP lease on {} renewed for {} s",
            lease.address,
            lease.lasts.as_secs()
        );
    }
}

/// Waits for `lease`'s T1, then asks until a server renews it: its own
/// server until T2, any server after; an error when it ends first, is
/// refused, or moves to another address.
async fn renew(socket: &tokio::net::UdpSocket, mac: [u8; 6], lease: &Lease) -> anyhow::Result<Lease> {
    let granted = tokio::time::Instant::now();
    tokio::time::sleep(lease.renew).await;
    loop {
        let elapsed = granted.elapsed();
        if elapsed >= lease.lasts {
            return Err(anyhow!(
                "the DHCP lease on {} ended without renewal",
                lease.address
            ));
        }
        let to = if elapsed < lease.rebind {
            lease.server
        } else {
            Ipv4Addr::BROADCAST
        };
        let request = ClientMessage {
            kind: Kind::Request,
            xid: xid()?,
            mac,
            ciaddr: Some(lease.address),
            requested: None,
            server: None,
        };
        let Some((ack, from)) = exchange(socket, &request, to).await? else {
            tokio::time::sleep(Duration::from_secs(10)).await;
            continue;
        };
        let next = Lease::from_ack(&ack, from)
            .with_context(|| format!("renewing the lease on {}", lease.address))?;
        if next.address != lease.address {
            return Err(anyhow!(
                "the DHCP server moved the enclave from {} to {}",
                lease.address,
                next.address
            ));
        }
        return Ok(next);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dhcproto::v4;
    use dhcproto::{Decodable, Decoder, Encodable, Encoder};

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    #[test]
    fn our_requests_decode_with_dhcproto_as_written() {
        let m = ClientMessage {
            kind: Kind::Request,
            xid: 0x1234_5678,
            mac: MAC,
            ciaddr: None,
            requested: Some(Ipv4Addr::new(10, 0, 2, 15)),
            server: Some(Ipv4Addr::new(10, 0, 2, 2)),
        };
        let d = v4::Message::decode(&mut Decoder::new(&m.to_bytes())).unwrap();
        assert_eq!(d.opcode(), v4::Opcode::BootRequest);
        assert_eq!(d.xid(), 0x1234_5678);
        assert!(d.flags().broadcast());
        assert_eq!(&d.chaddr()[..6], &MAC);
        assert_eq!(d.opts().msg_type(), Some(v4::MessageType::Request));
        assert_eq!(
            d.opts().get(v4::OptionCode::RequestedIpAddress),
            Some(&v4::DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 2, 15)))
        );
        assert_eq!(
            d.opts().get(v4::OptionCode::ServerIdentifier),
            Some(&v4::DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 2, 2)))
        );
        // Renewing: ciaddr set, no broadcast, no selection options.
        let renew = ClientMessage {
            ciaddr: Some(Ipv4Addr::new(10, 0, 2, 15)),
            requested: None,
            server: None,
            ..m
        };
        let d = v4::Message::decode(&mut Decoder::new(&renew.to_bytes())).unwrap();
        assert_eq!(d.ciaddr(), Ipv4Addr::new(10, 0, 2, 15));
        assert!(!d.flags().broadcast());
        assert!(d.opts().get(v4::OptionCode::ServerIdentifier).is_none());
    }

    fn server_message(kind: v4::MessageType, xid: u32, mask: [u8; 4]) -> Vec<u8> {
        let mut m = v4::Message::default();
        m.set_opcode(v4::Opcode::BootReply)
            .set_xid(xid)
            .set_yiaddr(Ipv4Addr::new(10, 0, 2, 15))
            .set_chaddr(&MAC);
        m.opts_mut().insert(v4::DhcpOption::MessageType(kind));
        m.opts_mut()
            .insert(v4::DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 2, 2)));
        m.opts_mut()
            .insert(v4::DhcpOption::SubnetMask(Ipv4Addr::from(mask)));
        m.opts_mut()
            .insert(v4::DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 2, 2)]));
        m.opts_mut()
            .insert(v4::DhcpOption::DomainNameServer(vec![Ipv4Addr::new(10, 0, 2, 3)]));
        m.opts_mut().insert(v4::DhcpOption::AddressLeaseTime(86_400));
        let mut buf = Vec::new();
        m.encode(&mut Encoder::new(&mut buf)).unwrap();
        buf
    }

    #[test]
    fn a_dhcproto_ack_becomes_a_lease_and_nothing_else_is_taken() {
        let ack = server_message(v4::MessageType::Ack, 7, [255, 255, 255, 0]);
        let reply = parse_reply(&ack, 7, MAC).unwrap().unwrap();
        let lease = Lease::from_ack(&reply, Ipv4Addr::new(10, 0, 2, 2)).unwrap();
        assert_eq!(
            lease,
            Lease {
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix: 24,
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
                server: Ipv4Addr::new(10, 0, 2, 2),
                lasts: Duration::from_secs(86_400),
                renew: Duration::from_secs(43_200),
                rebind: Duration::from_secs(75_600),
            }
        );
        // Another exchange, another client: not ours.
        assert_eq!(parse_reply(&ack, 8, MAC).unwrap(), None);
        assert_eq!(parse_reply(&ack, 7, [0; 6]).unwrap(), None);
    }

    #[test]
    fn malformed_or_unusable_answers_are_refused_with_what_is_wrong() {
        let ack = server_message(v4::MessageType::Ack, 7, [255, 0, 255, 0]);
        let reply = parse_reply(&ack, 7, MAC).unwrap().unwrap();
        let e = Lease::from_ack(&reply, Ipv4Addr::new(10, 0, 2, 2)).unwrap_err();
        assert!(e.to_string().contains("not a prefix"), "{e}");

        let nak = server_message(v4::MessageType::Nak, 7, [255, 255, 255, 0]);
        let reply = parse_reply(&nak, 7, MAC).unwrap().unwrap();
        let e = Lease::from_ack(&reply, Ipv4Addr::new(10, 0, 2, 2)).unwrap_err();
        assert!(e.to_string().contains("Nak"), "{e}");

        // The fixed part and cookie of a real ACK, then a subnet mask that
        // claims 4 bytes and has 1.
        let mut truncated = server_message(v4::MessageType::Ack, 7, [255, 255, 255, 0]);
        truncated.truncate(FIXED + 4);
        truncated.extend_from_slice(&[option::MESSAGE_TYPE, 1, 5, option::SUBNET_MASK, 4, 255]);
        let e = parse_reply(&truncated, 7, MAC).unwrap_err();
        assert!(e.to_string().contains("runs past"), "{e}");

        let e = parse_reply(&[2; 100], 7, MAC).unwrap_err();
        assert!(e.to_string().contains("too short"), "{e}");
    }
}
