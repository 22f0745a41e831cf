//! The PSP34 non-fungible token standard (w3f PSPs, `psp-34.md`): the id type, the error, the
//! two events and the message traits, so that DocumentNFT answers the standard's selectors
//! (`PSP34::owner_of` is `0x1168624d`, and so on) and any PSP34 wallet can show and move
//! documents.

use crate::AccountId;
use ink::prelude::{string::String, vec::Vec};

/// A token id. DocumentNFT numbers its tokens `Id::U64(1)`, `Id::U64(2)`, ...
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum Id {
    /// An 8-bit id.
    U8(u8),
    /// A 16-bit id.
    U16(u16),
    /// A 32-bit id.
    U32(u32),
    /// A 64-bit id.
    U64(u64),
    /// A 128-bit id.
    U128(u128),
    /// An id of bytes.
    Bytes(Vec<u8>),
}

/// The standard's error.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum PSP34Error {
    /// Any other error; DocumentNFT puts its own error's name here.
    Custom(String),
    /// An account tried to approve itself.
    SelfApprove,
    /// The caller is neither the owner nor approved.
    NotApproved,
    /// The token exists already.
    TokenExists,
    /// The token does not exist.
    TokenNotExists,
    /// The receiver refused the token.
    SafeTransferCheckFailed(String),
}

/// A token moved; `from` is `None` for a mint, `to` is `None` for a burn.
#[ink::event]
#[derive(Debug)]
pub struct Transfer {
    /// The previous owner.
    #[ink(topic)]
    pub from: Option<AccountId>,
    /// The new owner.
    #[ink(topic)]
    pub to: Option<AccountId>,
    /// The token.
    #[ink(topic)]
    pub id: Id,
}

/// An owner approved or disapproved an operator, for one token or for all.
#[ink::event]
#[derive(Debug)]
pub struct Approval {
    /// The owner.
    #[ink(topic)]
    pub owner: AccountId,
    /// The operator.
    #[ink(topic)]
    pub operator: AccountId,
    /// The token, or `None` for all of the owner's tokens.
    #[ink(topic)]
    pub id: Option<Id>,
    /// Approved or withdrawn.
    pub approved: bool,
}

/// The standard's core messages.
#[allow(clippy::upper_case_acronyms)]
#[ink::trait_definition]
pub trait PSP34 {
    /// The collection's id.
    #[ink(message)]
    fn collection_id(&self) -> Id;

    /// How many tokens `owner` holds.
    #[ink(message)]
    fn balance_of(&self, owner: AccountId) -> u32;

    /// The token's owner, `None` if it does not exist.
    #[ink(message)]
    fn owner_of(&self, id: Id) -> Option<AccountId>;

    /// Whether `operator` may move `owner`'s token `id` (or all of them for `None`).
    #[ink(message)]
    fn allowance(&self, owner: AccountId, operator: AccountId, id: Option<Id>) -> bool;

    /// Lets `operator` move the caller's token `id` (or all of them for `None`), or withdraws
    /// that.
    #[ink(message)]
    fn approve(
        &mut self,
        operator: AccountId,
        id: Option<Id>,
        approved: bool,
    ) -> Result<(), PSP34Error>;

    /// Moves token `id` to `to`.
    #[ink(message)]
    fn transfer(&mut self, to: AccountId, id: Id, data: Vec<u8>) -> Result<(), PSP34Error>;

    /// How many tokens exist.
    #[ink(message)]
    fn total_supply(&self) -> u128;
}

/// The standard's metadata extension.
#[allow(clippy::upper_case_acronyms)]
#[ink::trait_definition]
pub trait PSP34Metadata {
    /// The attribute `key` of token `id`.
    #[ink(message)]
    fn get_attribute(&self, id: Id, key: Vec<u8>) -> Option<Vec<u8>>;
}
