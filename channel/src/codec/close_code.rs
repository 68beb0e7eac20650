//! WebSocket close codes the hub sends (RFC 6455 §7.4.1; 4000–4999 private use),
//! documented in docs/PROTOCOL.md. Never renumber.

/// Why the hub closes a session; each reason has a stable close code, a label (for
/// metrics) and the reason text of the close frame. A session that ends without one
/// (the peer left) closes with [`CloseCode::NORMAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CloseCode {
    /// No `hello`/`subscribe` within the handshake timeout (4003).
    HandshakeTimeout = 0,
    /// Nothing received within the idle timeout (4002).
    Idle = 1,
    /// The outbound queue filled up: the peer does not read (4004).
    SlowReader = 2,
    /// A frame or message over the size limit (1009).
    TooLarge = 3,
    /// Malformed WebSocket framing or a protocol violation (1002).
    Protocol = 4,
    /// Another session said `hello` for the same channel (4001).
    Superseded = 5,
    /// The hub is shutting down (1001).
    Shutdown = 6,
    /// The storage layer failed; the hub stops taking payments (1013).
    StorageFailed = 7,
}

impl CloseCode {
    /// The close code of a session that ends without a reason.
    pub const NORMAL: u16 = 1000;
    /// The close-frame reason text sent with [`CloseCode::NORMAL`].
    pub const NORMAL_TEXT: &'static str = "bye";
    /// Number of reasons.
    pub const COUNT: usize = 8;
    /// Every reason, by [`CloseCode::index`].
    pub const ALL: [CloseCode; Self::COUNT] = [
        CloseCode::HandshakeTimeout,
        CloseCode::Idle,
        CloseCode::SlowReader,
        CloseCode::TooLarge,
        CloseCode::Protocol,
        CloseCode::Superseded,
        CloseCode::Shutdown,
        CloseCode::StorageFailed,
    ];

    /// Dense index in `0..COUNT` (for counters).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The reason with index `i`, if any.
    pub fn from_index(i: usize) -> Option<CloseCode> {
        Self::ALL.get(i).copied()
    }

    /// The close code on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            CloseCode::HandshakeTimeout => 4003,
            CloseCode::Idle => 4002,
            CloseCode::SlowReader => 4004,
            CloseCode::TooLarge => 1009,
            CloseCode::Protocol => 1002,
            CloseCode::Superseded => 4001,
            CloseCode::Shutdown => 1001,
            CloseCode::StorageFailed => 1013,
        }
    }

    /// The reason closing with wire code `v`, if this version knows it.
    pub fn from_u16(v: u16) -> Option<CloseCode> {
        Self::ALL.into_iter().find(|c| c.as_u16() == v)
    }

    /// Stable label (a metrics label value).
    pub fn name(self) -> &'static str {
        match self {
            CloseCode::HandshakeTimeout => "handshake_timeout",
            CloseCode::Idle => "idle",
            CloseCode::SlowReader => "slow_reader",
            CloseCode::TooLarge => "too_large",
            CloseCode::Protocol => "protocol",
            CloseCode::Superseded => "superseded",
            CloseCode::Shutdown => "shutdown",
            CloseCode::StorageFailed => "storage_failed",
        }
    }

    /// The reason text of the close frame.
    pub fn text(self) -> &'static str {
        match self {
            CloseCode::HandshakeTimeout => "handshake timeout",
            CloseCode::Idle => "idle timeout",
            CloseCode::SlowReader => "outbound queue full: peer does not read",
            CloseCode::TooLarge => "frame or message too large",
            CloseCode::Protocol => "protocol violation",
            CloseCode::Superseded => "another session said hello for this channel",
            CloseCode::Shutdown => "hub shutting down",
            CloseCode::StorageFailed => "hub storage failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_pinned_and_distinct() {
        // Pinned wire values (docs/PROTOCOL.md): changing any breaks deployed clients.
        let pinned = [
            (CloseCode::HandshakeTimeout, 4003, "handshake_timeout"),
            (CloseCode::Idle, 4002, "idle"),
            (CloseCode::SlowReader, 4004, "slow_reader"),
            (CloseCode::TooLarge, 1009, "too_large"),
            (CloseCode::Protocol, 1002, "protocol"),
            (CloseCode::Superseded, 4001, "superseded"),
            (CloseCode::Shutdown, 1001, "shutdown"),
            (CloseCode::StorageFailed, 1013, "storage_failed"),
        ];
        assert_eq!(pinned.len(), CloseCode::COUNT);
        assert_eq!(CloseCode::NORMAL, 1000);
        for (i, (code, wire, name)) in pinned.into_iter().enumerate() {
            assert_eq!(code.index(), i);
            assert_eq!(CloseCode::from_index(i), Some(code));
            assert_eq!(code.as_u16(), wire, "{code:?}");
            assert_eq!(CloseCode::from_u16(wire), Some(code));
            assert_eq!(code.name(), name);
            assert!(!code.text().is_empty());
        }
        assert_eq!(CloseCode::from_index(CloseCode::COUNT), None);
        assert_eq!(CloseCode::from_u16(CloseCode::NORMAL), None);
        assert_eq!(CloseCode::from_u16(1006), None);
    }
}
