//! The component's exported interfaces, loaded by an instance only when a call needs
//! them.
//!
//! The generated `Connector::instantiate` looks up and type-checks every exported
//! function of every interface at each instantiation: a callgrind profile of
//! instantiation showed `typecheck_record` and the string compares it makes among the
//! largest costs. But a fresh instance serves one call, of one interface. So the
//! indices are looked up once per component ([`Indices`]), and an instance loads (and
//! type-checks) an interface's functions at its first call of it ([`Exports`]); a kept
//! instance keeps them.

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Result, Store};

use super::HostState;
use super::bindings::exports::whatsapp::connector as wit;

macro_rules! interfaces {
    ($($field:ident: $module:ident),* $(,)?) => {
        /// Each exported interface's function indices, looked up once per component.
        pub(crate) struct Indices {
            $($field: wit::$module::GuestIndices,)*
        }

        impl Indices {
            pub(crate) fn new(pre: &InstancePre<HostState>) -> Result<Self> {
                Ok(Self {
                    $($field: wit::$module::GuestIndices::new(pre)?,)*
                })
            }
        }

        /// The interfaces an instance has loaded so far.
        #[derive(Default)]
        pub(crate) struct Loaded {
            $($field: Option<wit::$module::Guest>,)*
        }

        /// One instance's exports, each loaded at its first use.
        pub struct Exports<'a> {
            pub(crate) indices: &'a Indices,
            pub(crate) loaded: &'a mut Loaded,
            pub(crate) instance: Instance,
        }

        impl Exports<'_> {
            $(
                pub fn $field(&mut self, store: &mut Store<HostState>) -> Result<&wit::$module::Guest> {
                    if self.loaded.$field.is_none() {
                        let guest = self.indices.$field.load(&mut *store, &self.instance)?;
                        self.loaded.$field = Some(guest);
                    }
                    Ok(self.loaded.$field.as_ref().expect("loaded just now"))
                }
            )*
        }
    };
}

interfaces! {
    connection: connection,
    send_message: send_message,
    send_template: send_template,
    send_media: send_media,
    send_interactive: send_interactive,
    send_flow: send_flow,
    send_reaction: send_reaction,
    send_location: send_location,
    mark_as_read: mark_as_read,
    download_media: download_media,
    upload_media: upload_media,
    message_received: message_received,
    status_updated: status_updated,
    groups: groups,
    block_users: block_users,
    message_echoed: message_echoed,
    preference_changed: preference_changed,
    group_updated: group_updated,
}
