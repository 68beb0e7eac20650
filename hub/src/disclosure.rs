//! Disclosure material the hub hands out (issue 17; docs/PROTOCOL.md `disclosure`,
//! docs/OPERATOR.md `/operator/disclosure`): a channel's leaf of an accepted close,
//! opened by [`Operator::opening`] (from the epoch snapshot after a full close, from the
//! kept closed state after an incremental one), with the settlement record it is
//! checked against ([`channel::disclosure`]). The hub checks the file before handing it out, so a
//! snapshot that does not match the accepted root is reported, not served.

use channel::disclosure::{Disclosure, EpochDisclosure};
use channel::{ChannelId, Epoch};

use tokio::sync::Semaphore;

use crate::settlement_service::{Operator, OperatorError};

/// One disclosure is built at a time, hub-wide: each rebuilds a full close's balance
/// tree from its snapshot (O(channels) hashes) or reads an older closed state's file,
/// so requests from many sessions queue here instead of taking every core from the
/// payment path.
static BUILDS: Semaphore = Semaphore::const_new(1);

/// Channel `channel`'s disclosure for `epoch`, with the epoch before when
/// `with_previous` and the channel has a leaf there (so the file states the epoch's own
/// amounts).
pub async fn channel_disclosure(
    operator: &Operator,
    channel: ChannelId,
    epoch: Epoch,
    with_previous: bool,
) -> Result<Disclosure, OperatorError> {
    let _turn = BUILDS
        .acquire()
        .await
        .map_err(|_| OperatorError::Storage("disclosures are shut down".into()))?;
    let current = epoch_disclosure(operator, channel, epoch).await?;
    let previous = match epoch.checked_sub(1) {
        Some(before) if with_previous && before > 0 => {
            // A channel opened after the close before has no leaf there.
            epoch_disclosure(operator, channel, before).await.ok()
        }
        _ => None,
    };
    let disclosure = Disclosure::new(current, previous);
    disclosure.check().map_err(|e| {
        OperatorError::Storage(format!(
            "the snapshot of epoch {epoch} does not open under its accepted root: {e}"
        ))
    })?;
    Ok(disclosure)
}

async fn epoch_disclosure(
    operator: &Operator,
    channel: ChannelId,
    epoch: Epoch,
) -> Result<EpochDisclosure, OperatorError> {
    let record = operator
        .settled_epoch(epoch)
        .await
        .ok_or_else(|| OperatorError::BadRequest(format!("epoch {epoch} has no accepted close")))?;
    let opening = operator.opening(channel, Some(epoch)).await?;
    Ok(EpochDisclosure { record, opening })
}
