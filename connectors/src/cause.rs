//! Who is to blame for a connector error, shared by the connectors' error types.

/// Who is to blame for an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The job's settings or data: a bad setting or location, a corrupt or incompatible
    /// file, a schema that does not match a table.
    User,
    /// A system outside the job: storage or network I/O, a concurrent writer; may succeed
    /// later.
    External,
    /// A bug in sluice or in a library it uses, or a corrupted table.
    Internal,
}
