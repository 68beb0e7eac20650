//! A crash between the ledger's epoch cut and the settlement file's (docs/SECURITY.md
//! §2.4): the ledger cuts first and durably, the settlement layer records the cut
//! after. The state a SIGKILL leaves between the two is made here exactly, by putting
//! back the settlement file from before the cut; the next start must record the
//! ledger's cut on the settlement layer, so that both agree again.

mod server_util;

use server_util::TestHub;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_ledger_cut_and_the_settlement_cut_is_adopted_at_start() {
    let hub = TestHub::start().await;
    hub.open(1, 1_000).await;
    hub.open(2, 50).await;
    let hub = hub.restart(|_| {}).await;
    let settlement_file = hub
        .dir
        .path()
        .join(hub::settlement_service::SETTLEMENT_FILE);
    let before_cut = std::fs::read(&settlement_file).expect("settlement file");

    let (epoch, _) = hub.handle.operator().cut().await.expect("cut");
    assert_eq!(epoch, 1);
    let expected = hub.handle.operator().settlement().await;
    let expected = expected.epoch(1).expect("recorded").clone();

    // The settlement file as a crash right after the ledger's cut leaves it.
    let dir = hub.dir.path().to_path_buf();
    hub.handle.shutdown().await.expect("shutdown");
    std::fs::write(&settlement_file, &before_cut).expect("put back");
    let hub = TestHub {
        handle: hub::Hub::start(hub::HubConfig::ephemeral(&dir))
            .await
            .expect("restart"),
        dir: hub.dir,
    };
    assert_eq!(hub.handle.operator().latest_epoch().await, 1, "adopted");
    let settlement = hub.handle.operator().settlement().await;
    let adopted = settlement.epoch(1).expect("epoch 1 recorded at start");
    assert_eq!(adopted.n, expected.n);
    assert_eq!(adopted.deposits_root, expected.deposits_root);
    assert_eq!(adopted.deposits_hash, expected.deposits_hash);

    // The two agree again: the next cut is refused only for the settlement layer's own
    // rule (epoch 1 awaits its close), not because the ledger has cut epoch 1 already.
    let refused = hub
        .handle
        .operator()
        .cut()
        .await
        .expect_err("epoch 1 is not closed");
    assert!(
        matches!(
            refused,
            hub::settlement_service::OperatorError::Settlement(
                channel::settlement::SettlementError::CloseNotAccepted(1)
            )
        ),
        "{refused}"
    );
}
