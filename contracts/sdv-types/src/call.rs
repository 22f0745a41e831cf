//! Calls between the SDV contracts.

use crate::AccountId;

/// Calls the message with `selector` of the contract at `target`, with `args` (the tuple of
/// its arguments, SCALE-encoded back to back as the message expects), and decodes its answer.
///
/// `None` when the call fails (no contract there, a trap, a revert) or its answer does not
/// decode as `R`. Each contract maps that to its own error.
pub fn invoke<A, R>(target: AccountId, selector: [u8; 4], args: A) -> Option<R>
where
    A: scale::Encode,
    R: scale::Decode,
{
    use ink::env::call::{build_call, ExecutionInput, Selector};
    build_call::<ink::env::DefaultEnvironment>()
        .call(target)
        .exec_input(ExecutionInput::new(Selector::new(selector)).push_arg(args))
        .returns::<R>()
        .try_invoke()
        .ok()?
        .ok()
}
