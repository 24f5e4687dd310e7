//! The measured image's default-deny firewall, set by the enclave itself
//! over netlink (nftables; `netlink-packet-netfilter` builds the
//! messages): one `inet` table whose input and output chains drop
//! everything except
//!
//! - loopback (an upstream engine listens there);
//! - inbound TCP to the API port, and its replies;
//! - outbound TCP to each destination the measured configuration allows
//!   (the key broker, the model store), and their replies;
//! - with a DHCP address: UDP from port 68 to port 67 and back (the
//!   lease's renewals).
//!
//! No DNS, no ICMP, nothing else. The rules are stateless (no conntrack
//! module in the image). The whole table goes in one batch: either every
//! rule is in place or the enclave stops.

use std::net::SocketAddrV4;

use anyhow::{anyhow, Context};
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST,
};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, Cmp, DataAttribute, Expressions, Hook, Immediate, InetHookNumber, Meta,
    MetaKey, NfTablesMessage, Operator, Payload, Register, RuleAttribute, RuleMessage, TableAttribute,
    TableMessage, Verdict, VerdictAttribute,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// The table's name (`nft list ruleset` shows `table inet blindfold`).
pub const TABLE: &str = "blindfold";
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFPROTO_IPV4: u8 = 2;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// Payload bases: the network and the transport header.
const NETWORK_HEADER: u32 = 1;
const TRANSPORT_HEADER: u32 = 2;

/// What the firewall lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Loopback's interface index.
    pub loopback: u32,
    /// The API port (inbound).
    pub listen_port: u16,
    /// Outbound destinations.
    pub allowed: Vec<SocketAddrV4>,
    /// The address came from DHCP: its client port may talk to servers.
    pub dhcp: bool,
}

type Expr = netlink_packet_netfilter::nftables::ListAttribute<
    netlink_packet_netfilter::nftables::ExpressionAttribute,
>;
/// `NF_ACCEPT`.
const ACCEPT: u32 = 1;

fn meta(key: MetaKey, value: Vec<u8>) -> Vec<Expr> {
    vec![
        Expressions::Meta(vec![Meta::Key(key), Meta::DestinationRegister(Register::Reg1)]).into(),
        Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(Operator::Equal),
            Cmp::Data(DataAttribute::Value(value)),
        ])
        .into(),
    ]
}

fn payload(base: u32, offset: u32, value: Vec<u8>) -> Vec<Expr> {
    vec![
        Expressions::Payload(vec![
            Payload::DestinationRegister(Register::Reg1),
            Payload::Base(base),
            Payload::Offset(offset),
            Payload::Len(value.len() as u32),
        ])
        .into(),
        Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(Operator::Equal),
            Cmp::Data(DataAttribute::Value(value)),
        ])
        .into(),
    ]
}

fn accept() -> Expr {
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(Register::Verdict),
        Immediate::Data(DataAttribute::Verdict(vec![VerdictAttribute::Code(
            Verdict::Other(ACCEPT),
        )])),
    ])
    .into()
}

/// `meta nfproto ipv4 meta l4proto PROTO`, then the given matches, accept.
fn l4_rule(protocol: u8, matches: Vec<Vec<Expr>>) -> Vec<Expr> {
    let mut e = meta(MetaKey::Nfproto, vec![NFPROTO_IPV4]);
    e.extend(meta(MetaKey::L4Proto, vec![protocol]));
    e.extend(matches.into_iter().flatten());
    e.push(accept());
    e
}

fn tcp_rule(matches: Vec<Vec<Expr>>) -> Vec<Expr> {
    l4_rule(IPPROTO_TCP, matches)
}

/// The rules of each chain, as expression lists.
pub fn rules(policy: &Policy) -> (Vec<Vec<Expr>>, Vec<Vec<Expr>>) {
    let port = |p: u16| p.to_be_bytes().to_vec();
    let mut input = vec![{
        let mut e = meta(MetaKey::Iif, policy.loopback.to_ne_bytes().to_vec());
        e.push(accept());
        e
    }];
    let mut output = vec![{
        let mut e = meta(MetaKey::Oif, policy.loopback.to_ne_bytes().to_vec());
        e.push(accept());
        e
    }];
    // tcp dport LISTEN (in); tcp sport LISTEN (out: the replies).
    input.push(tcp_rule(vec![payload(
        TRANSPORT_HEADER,
        2,
        port(policy.listen_port),
    )]));
    output.push(tcp_rule(vec![payload(
        TRANSPORT_HEADER,
        0,
        port(policy.listen_port),
    )]));
    for dest in &policy.allowed {
        // ip daddr D tcp dport P (out); ip saddr D tcp sport P (in).
        output.push(tcp_rule(vec![
            payload(NETWORK_HEADER, 16, dest.ip().octets().to_vec()),
            payload(TRANSPORT_HEADER, 2, port(dest.port())),
        ]));
        input.push(tcp_rule(vec![
            payload(NETWORK_HEADER, 12, dest.ip().octets().to_vec()),
            payload(TRANSPORT_HEADER, 0, port(dest.port())),
        ]));
    }
    if policy.dhcp {
        // udp sport 68 dport 67 (out); udp sport 67 dport 68 (in).
        output.push(l4_rule(
            IPPROTO_UDP,
            vec![
                payload(TRANSPORT_HEADER, 0, port(68)),
                payload(TRANSPORT_HEADER, 2, port(67)),
            ],
        ));
        input.push(l4_rule(
            IPPROTO_UDP,
            vec![
                payload(TRANSPORT_HEADER, 0, port(67)),
                payload(TRANSPORT_HEADER, 2, port(68)),
            ],
        ));
    }
    (input, output)
}

fn message(body: NfTablesMessage, flags: u16) -> NetlinkMessage<NetfilterMessage> {
    let mut m = NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::Inet, 0, 0),
        body,
    ));
    m.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    m
}

/// The batch: begin, the table, its two chains (policy drop), the rules,
/// end.
pub fn batch(policy: &Policy) -> Vec<NetlinkMessage<NetfilterMessage>> {
    let control = |c: ControlMessage| {
        let mut m = NetlinkMessage::from(NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, NFNL_SUBSYS_NFTABLES),
            c,
        ));
        m.header.flags = NLM_F_REQUEST;
        m
    };
    let mut out = vec![control(ControlMessage::BatchBegin)];
    out.push(message(
        NfTablesMessage::NewTable(TableMessage {
            attributes: vec![TableAttribute::Name(TABLE.into())],
        }),
        NLM_F_CREATE,
    ));
    let (input, output) = rules(policy);
    for (chain, hook, rules) in [
        ("input", InetHookNumber::LocalIn, input),
        ("output", InetHookNumber::LocalOut, output),
    ] {
        out.push(message(
            NfTablesMessage::NewChain(ChainMessage {
                attributes: vec![
                    ChainAttribute::Table(TABLE.into()),
                    ChainAttribute::Name(chain.into()),
                    ChainAttribute::Hook(vec![Hook::Number(hook.into()), Hook::Priority(0)]),
                    ChainAttribute::Policy(0), // NF_DROP
                    ChainAttribute::Type("filter".into()),
                ],
            }),
            NLM_F_CREATE,
        ));
        for expressions in rules {
            out.push(message(
                NfTablesMessage::NewRule(RuleMessage {
                    attributes: vec![
                        RuleAttribute::Table(TABLE.into()),
                        RuleAttribute::Chain(chain.into()),
                        RuleAttribute::Expressions(expressions),
                    ],
                }),
                NLM_F_CREATE | NLM_F_APPEND,
            ));
        }
    }
    out.push(control(ControlMessage::BatchEnd));
    for (seq, m) in out.iter_mut().enumerate() {
        m.header.sequence_number = seq as u32 + 1;
        m.finalize();
    }
    out
}

/// Sends the batch and waits for the kernel to acknowledge every message
/// in it (an error names the message's position).
pub fn apply(policy: &Policy) -> anyhow::Result<()> {
    let messages = batch(policy);
    let mut bytes = Vec::new();
    for m in &messages {
        let start = bytes.len();
        bytes.resize(start + m.buffer_len(), 0);
        m.serialize(&mut bytes[start..]);
    }
    let mut socket = Socket::new(NETLINK_NETFILTER).context("opening a netfilter netlink socket")?;
    socket.bind_auto().context("binding the netlink socket")?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .context("connecting the netlink socket")?;
    socket.send(&bytes, 0).context("sending the nftables batch")?;
    // Every message but begin and end asks for an acknowledgement.
    let mut waiting = messages.len() - 2;
    let mut buf = vec![0u8; 1 << 16];
    while waiting > 0 {
        let n = socket
            .recv(&mut &mut buf[..], 0)
            .context("reading the kernel's answer")?;
        let mut at = 0;
        while at < n {
            let answer = NetlinkMessage::<NetfilterMessage>::deserialize(&buf[at..n])
                .map_err(|e| anyhow!("the kernel's answer does not parse: {e}"))?;
            let len = answer.header.length as usize;
            if let NetlinkPayload::Error(e) = &answer.payload {
                if let Some(code) = e.code {
                    return Err(anyhow!(
                        "the kernel refused nftables message {} of the batch: {}",
                        answer.header.sequence_number,
                        std::io::Error::from_raw_os_error(-code.get())
                    ));
                }
                waiting -= 1;
            }
            if len == 0 {
                break;
            }
            at += len;
        }
    }
    Ok(())
}
