//! What `std`'s prelude gives and `alloc` does not: the guest is `no_std`, so every
//! module that allocates says `use crate::prelude::*;`.

#[allow(unused_imports)]
pub use alloc::borrow::ToOwned;
#[allow(unused_imports)]
pub use alloc::boxed::Box;
#[allow(unused_imports)]
pub use alloc::string::{String, ToString};
#[allow(unused_imports)]
pub use alloc::vec::Vec;
#[allow(unused_imports)]
pub use alloc::{format, vec};
