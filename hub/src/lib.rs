//! # zkhub `hub`: the WebSocket payment hub
//!
//! I/O around the `channel` protocol core: the network server ([`Hub::start`]:
//! sessions, verifier pool, HTTP status, metrics and the operator interface), the
//! in-memory channel table ([`state`]), the redb store with group commit and recovery
//! ([`store`], [`writer`]), the in-process settlement layer
//! ([`settlement_service`]) and an async Rust client.

pub mod client;
pub mod closed_states;
pub mod config;
pub mod disclosure;
pub mod metrics;
pub mod server;
pub mod settlement_service;
pub mod state;
pub mod store;
pub mod thread_slice;
pub mod timeline;
pub mod writer;

pub use config::HubConfig;
pub use server::{Hub, HubError, HubHandle};
