//! Payer and payee client state machines, sans-I/O (docs/DESIGN.md §4, §5).
//!
//! Like `quinn-proto`, these hold protocol state and nothing else: no sockets, no
//! clock, no tasks. Inputs arrive through `handle_*` methods (messages from the hub,
//! time), application commands through plain methods (`pay`, `flush`), and outputs
//! leave through `poll_*` methods (vouchers to transmit, events for the
//! application, the next deadline). `hub::client` drives them over a WebSocket; the
//! in-memory [`pair`] drives them against a [`crate::ledger::Ledger`] so that every
//! rule can be tested without a socket.
//!
//! - [`payer`]: builds, signs (per [`SigningPolicy`]) and tracks vouchers until the
//!   hub acks them; resynchronises after a reject or a reconnect.
//! - [`payee`]: tracks credits and keeps the best hub-signed receipt per epoch.
//! - [`pair`]: an in-memory hub (ledger + group commit + sessions) and clients.

pub mod pair;
pub mod payee;
pub mod payer;

pub use pair::{MemHub, Net, ToClient};
pub use payee::{Credit, Payee, PayeeError, verify_receipt};
pub use payer::{HubHead, PayError, Payer, PayerConfig, PayerEvent, ProtocolError, SigningPolicy};
