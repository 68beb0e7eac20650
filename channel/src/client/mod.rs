//! Payer and payee client state machines (sans-I/O).
//! TODO(ledger helper): implement.
