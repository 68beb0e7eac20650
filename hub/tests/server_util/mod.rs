//! Helpers for the server tests: start a hub on an ephemeral loopback port with a
//! temporary data directory, open channels through the operator, and drive raw
//! WebSocket clients (tokio-tungstenite) that speak the wire protocol by hand.
#![allow(dead_code)]

use std::time::Duration;

use channel::codec::{
    ChannelStatus, ClientMessage, Hello, Id, Pay, PayVoucher, Reply, Request, RpcError,
    ServerMessage, Subscribe,
};
use channel::crypto::{PrivateKey, chain_next};
use channel::types::{VoucherIn, hello_message, voucher_message};
use channel::{Amount, ChannelId, Fe, HubId, Seq};
use futures_util::{SinkExt, StreamExt};
use hub::{Hub, HubConfig, HubHandle};
use rand::SeedableRng;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for any one expected message.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running hub and its data directory.
pub struct TestHub {
    pub handle: HubHandle,
    pub dir: tempfile::TempDir,
}

impl TestHub {
    /// Start a hub with default limits.
    pub async fn start() -> TestHub {
        Self::start_with(|_| {}).await
    }

    /// Start a hub, adjusting its configuration first.
    pub async fn start_with(adjust: impl FnOnce(&mut HubConfig)) -> TestHub {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = HubConfig::ephemeral(dir.path());
        config.verifier_threads = 2;
        adjust(&mut config);
        let handle = Hub::start(config).await.expect("hub starts");
        TestHub { handle, dir }
    }

    /// Stop the hub and start a new one on the same data directory.
    pub async fn restart(self, adjust: impl FnOnce(&mut HubConfig)) -> TestHub {
        let TestHub { handle, dir } = self;
        handle.shutdown().await.expect("clean shutdown");
        let mut config = HubConfig::ephemeral(dir.path());
        config.verifier_threads = 2;
        adjust(&mut config);
        let handle = Hub::start(config).await.expect("hub restarts");
        TestHub { handle, dir }
    }

    pub fn hub_id(&self) -> HubId {
        1
    }

    /// Open a channel with a deterministic key derived from `seed`.
    pub async fn open(&self, seed: u64, deposit: Amount) -> (ChannelId, PrivateKey) {
        let key = key(seed);
        let done = self
            .handle
            .operator()
            .deposit(&[(key.public(), deposit)])
            .await
            .expect("deposit");
        (done[0].channel, key)
    }

    pub fn url(&self) -> String {
        self.handle.ws_url()
    }
}

/// A deterministic private key.
pub fn key(seed: u64) -> PrivateKey {
    let mut rng = rand_chacha_like(seed);
    PrivateKey::random(&mut rng)
}

fn rand_chacha_like(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw protocol client.
pub struct Client {
    pub ws: Ws,
    pub hub_id: HubId,
    pub nonce: Fe,
    pub epoch: u64,
    next_id: i64,
}

/// Something received, decoded.
// One value per received message in tests: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum In {
    Msg(ServerMessage),
    Binary(Vec<u8>),
    Closed(Option<(u16, String)>),
}

impl Client {
    /// Connect and read the challenge.
    pub async fn connect(url: &str) -> Client {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let first = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("challenge in time");
        let text = match first {
            Some(Ok(Message::Text(t))) => t,
            other => panic!("expected a challenge, got {other:?}"),
        };
        let ServerMessage::Challenge(c) = ServerMessage::decode(&text).expect("challenge decodes")
        else {
            panic!("first message is not a challenge: {text}");
        };
        Client {
            ws,
            hub_id: c.hub_id,
            nonce: c.nonce,
            epoch: c.epoch,
            next_id: 1,
        }
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        self.ws
            .send(Message::Text(msg.to_text().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    /// Next message (text decoded; binary raw; close reported).
    pub async fn recv(&mut self) -> In {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time");
            match next {
                None => return In::Closed(None),
                Some(Err(_)) => return In::Closed(None),
                Some(Ok(Message::Text(t))) => {
                    return In::Msg(
                        ServerMessage::decode(&t)
                            .unwrap_or_else(|e| panic!("bad server text {t}: {e}")),
                    );
                }
                Some(Ok(Message::Binary(b))) => return In::Binary(b.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    return In::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Next decoded text message (panics on anything else).
    pub async fn recv_msg(&mut self) -> ServerMessage {
        match self.recv().await {
            In::Msg(m) => m,
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// Send a request and wait for its response (skipping notifications, which are
    /// returned alongside).
    pub async fn request(
        &mut self,
        request: Request,
    ) -> (Result<Reply, RpcError>, Vec<ServerMessage>) {
        let id = Id::Num(self.next_id);
        self.next_id += 1;
        self.send(&ClientMessage::Request {
            id: id.clone(),
            request,
        })
        .await;
        let mut other = Vec::new();
        loop {
            match self.recv().await {
                In::Msg(ServerMessage::Response { id: got, result }) if got == id => {
                    return (result, other);
                }
                In::Msg(m) => other.push(m),
                In::Binary(_) => {}
                In::Closed(c) => panic!("closed while waiting for a response: {c:?}"),
            }
        }
    }

    /// `hello` for `channel` signed with `key`.
    pub async fn hello(
        &mut self,
        channel: ChannelId,
        key: &PrivateKey,
    ) -> Result<ChannelStatus, RpcError> {
        let sig = key.sign(&hello_message(self.hub_id, &self.nonce, channel));
        match self.request(Request::Hello(Hello { channel, sig })).await.0 {
            Ok(Reply::Status(s)) => Ok(s),
            Ok(other) => panic!("hello answered {other:?}"),
            Err(e) => Err(e),
        }
    }

    pub async fn subscribe(&mut self, channel: ChannelId) -> Result<Reply, RpcError> {
        self.request(Request::Subscribe(Subscribe { channel }))
            .await
            .0
    }

    /// Send JSON vouchers of `channel`.
    pub async fn pay_json(&mut self, channel: ChannelId, vouchers: &[VoucherIn]) {
        let pay = Pay {
            vouchers: vouchers
                .iter()
                .map(|v| PayVoucher::new(channel, v))
                .collect(),
        };
        self.send(&ClientMessage::Pay(pay)).await;
    }

    /// Send one binary pay frame.
    pub async fn pay_binary(&mut self, vouchers: &[VoucherIn]) {
        let mut out = Vec::new();
        channel::codec::encode_pay_frame(vouchers, &mut out).expect("encode");
        self.send_binary(out).await;
    }

    /// Wait for an ack (text, binary, or a re-ack) of at least `seq`; returns it and
    /// everything else seen.
    pub async fn await_ack(&mut self, seq: Seq) -> (Seq, Vec<ServerMessage>) {
        let mut other = Vec::new();
        loop {
            match self.recv().await {
                In::Msg(ServerMessage::Ack(a)) if a.seq >= seq => return (a.seq, other),
                In::Msg(ServerMessage::Reack(a)) if a.seq >= seq => return (a.seq, other),
                In::Msg(ServerMessage::Ack(_) | ServerMessage::Reack(_)) => {}
                In::Msg(m) => other.push(m),
                In::Binary(b) => match channel::codec::decode_server_binary(&b)
                    .expect("binary frame")
                {
                    channel::codec::ServerFrame::Ack { seq: s } if s >= seq => return (s, other),
                    channel::codec::ServerFrame::Ack { .. } => {}
                    f => panic!("unexpected binary frame {f:?}"),
                },
                In::Closed(c) => panic!("closed while waiting for ack {seq}: {c:?}"),
            }
        }
    }

    /// Wait for the next reject (text or binary): `(seq, code)`.
    pub async fn await_reject(&mut self) -> (Seq, i32) {
        loop {
            match self.recv().await {
                In::Msg(ServerMessage::Reject(r)) => return (r.seq, r.code),
                In::Msg(_) => {}
                In::Binary(b) => {
                    if let channel::codec::ServerFrame::Reject { seq, code, .. } =
                        channel::codec::decode_server_binary(&b).expect("binary frame")
                    {
                        return (seq, code);
                    }
                }
                In::Closed(c) => panic!("closed while waiting for a reject: {c:?}"),
            }
        }
    }

    /// Wait until the connection is closed; returns the close frame if any.
    pub async fn await_close(&mut self) -> Option<(u16, String)> {
        loop {
            if let In::Closed(c) = self.recv().await {
                return c;
            }
        }
    }
}

/// Builds the voucher stream of one channel.
#[derive(Clone)]
pub struct Payer {
    pub channel: ChannelId,
    pub key: PrivateKey,
    pub hub_id: HubId,
    pub seq: Seq,
    pub spent: Amount,
    pub chain: Fe,
}

impl Payer {
    pub fn new(channel: ChannelId, key: PrivateKey, hub_id: HubId) -> Self {
        Payer {
            channel,
            key,
            hub_id,
            seq: 0,
            spent: 0,
            chain: Fe::from(0u64),
        }
    }

    /// The next voucher to `to`, signed iff `sign`.
    pub fn next(&mut self, to: ChannelId, amount: Amount, sign: bool) -> VoucherIn {
        self.seq += 1;
        self.spent += amount;
        self.chain = chain_next(&self.chain, self.seq, to, amount);
        let sig = sign.then(|| {
            self.key.sign(&voucher_message(
                self.hub_id,
                self.channel,
                self.seq,
                self.spent,
                &self.chain,
            ))
        });
        VoucherIn {
            seq: self.seq,
            to,
            amount,
            spent: Some(self.spent),
            chain: Some(self.chain),
            sig,
        }
    }

    /// `n` vouchers of `amount` to `to`, every `k`-th and the last signed.
    pub fn run(&mut self, to: ChannelId, amount: Amount, n: usize, k: usize) -> Vec<VoucherIn> {
        (1..=n)
            .map(|i| self.next(to, amount, i % k == 0 || i == n))
            .collect()
    }
}

/// Plain HTTP GET on the hub's port: `(status, body)`.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, "").await
}

/// Minimal HTTP/1.1 request over a fresh connection.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Accepts a close proof equal to `b"proof"`: the Spartan verifier lives in `closer`,
/// and these tests check the hub's plumbing around it, not the proof system.
pub struct AcceptTestProofs;

impl channel::settlement::CloseVerifier for AcceptTestProofs {
    fn verify(
        &self,
        _inputs: &channel::statement::PublicInputs,
        proof: &[u8],
    ) -> Result<(), String> {
        Self::check(proof)
    }
    fn verify_incremental(
        &self,
        _inputs: &channel::incremental::IncrementalInputs,
        proof: &[u8],
    ) -> Result<(), String> {
        Self::check(proof)
    }
}

impl AcceptTestProofs {
    fn check(proof: &[u8]) -> Result<(), String> {
        if proof == b"proof" {
            Ok(())
        } else {
            Err("not the test proof".into())
        }
    }
}

/// Test proof files: `{"inputs": PublicInputs, "proof": "<utf-8>"}`, or for an
/// incremental close `{"statement": "incremental", "inputs": IncrementalInputs, …}`.
pub struct JsonProofFiles(pub AcceptTestProofs);

impl hub::settlement_service::CloseBackend for JsonProofFiles {
    fn parse(&self, file: &[u8]) -> Result<(channel::statement::PublicInputs, Vec<u8>), String> {
        #[derive(serde::Deserialize)]
        struct File {
            inputs: channel::statement::PublicInputs,
            proof: String,
        }
        let f: File = serde_json::from_slice(file).map_err(|e| e.to_string())?;
        Ok((f.inputs, f.proof.into_bytes()))
    }
    fn verifier(&self) -> &dyn channel::settlement::CloseVerifier {
        &self.0
    }
    fn is_incremental(&self, file: &[u8]) -> bool {
        serde_json::from_slice::<serde_json::Value>(file)
            .is_ok_and(|v| v["statement"] == "incremental")
    }
    fn parse_incremental(
        &self,
        file: &[u8],
    ) -> Result<(channel::incremental::IncrementalInputs, Vec<u8>), String> {
        #[derive(serde::Deserialize)]
        struct File {
            inputs: channel::incremental::IncrementalInputs,
            proof: String,
        }
        let f: File = serde_json::from_slice(file).map_err(|e| e.to_string())?;
        Ok((f.inputs, f.proof.into_bytes()))
    }
}

/// `POST /operator/close` of epoch `epoch` with the inputs from the hub's snapshot.
pub async fn close(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
    epoch: u64,
    proof: &str,
) -> (u16, String) {
    let snapshot = hub::store::read_snapshot(dir, epoch).expect("snapshot");
    let (inputs, _) = channel::statement::close_public_inputs(&snapshot, &volume_blind(dir, epoch))
        .expect("inputs");
    let body = serde_json::json!({ "inputs": inputs, "proof": proof }).to_string();
    http(addr, "POST", "/operator/close", &body).await
}

/// The hub's volume blind of `epoch` (from the key in its data directory `dir`), as
/// `zkhub close` derives it.
pub fn volume_blind(dir: &std::path::Path, epoch: u64) -> channel::Fe {
    let key = hub::store::hub_key(dir).expect("the hub's key");
    channel::volume::volume_blind(&hub::store::blind_seed(&key), epoch)
}

/// A key's packed public key, hex.
pub fn hex_pk(k: &PrivateKey) -> String {
    hex::encode(k.public().pack())
}
