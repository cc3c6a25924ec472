//! Operation kinds and the classes results are grouped by (GET, PUT, META).

use std::fmt;

/// One storage operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Get,
    Put,
    List,
    Stat,
    Delete,
    /// Create one directory (file systems).
    Mkdir,
    /// Remove one empty directory (file systems).
    Rmdir,
}

/// The class an operation is reported under: LIST, STAT and DELETE are META.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpClass {
    Get,
    Put,
    Meta,
}

impl OpKind {
    pub const ALL: [OpKind; 7] =
        [OpKind::Get, OpKind::Put, OpKind::List, OpKind::Stat, OpKind::Delete, OpKind::Mkdir, OpKind::Rmdir];

    /// Dense index 0..7, for arrays indexed by op kind.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Option<OpKind> {
        Self::ALL.get(i).copied()
    }

    pub fn class(self) -> OpClass {
        match self {
            OpKind::Get => OpClass::Get,
            OpKind::Put => OpClass::Put,
            _ => OpClass::Meta,
        }
    }

    /// Upper-case name used in results files: GET, PUT, LIST, STAT, DELETE, MKDIR, RMDIR.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "GET",
            OpKind::Put => "PUT",
            OpKind::List => "LIST",
            OpKind::Stat => "STAT",
            OpKind::Delete => "DELETE",
            OpKind::Mkdir => "MKDIR",
            OpKind::Rmdir => "RMDIR",
        }
    }

    /// Lower-case name used in configs: get, put, list, stat, delete, mkdir, rmdir.
    pub fn config_name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::List => "list",
            OpKind::Stat => "stat",
            OpKind::Delete => "delete",
            OpKind::Mkdir => "mkdir",
            OpKind::Rmdir => "rmdir",
        }
    }

    /// Directory operations, for file systems only.
    pub fn is_dir_op(self) -> bool {
        matches!(self, OpKind::Mkdir | OpKind::Rmdir)
    }

    pub fn parse(s: &str) -> Option<OpKind> {
        Self::ALL.into_iter().find(|k| k.config_name().eq_ignore_ascii_case(s))
    }
}

impl OpClass {
    pub const ALL: [OpClass; 3] = [OpClass::Get, OpClass::Put, OpClass::Meta];

    pub fn name(self) -> &'static str {
        match self {
            OpClass::Get => "GET",
            OpClass::Put => "PUT",
            OpClass::Meta => "META",
        }
    }

    /// `bucket_idx` of the class's ALL row in results.tsv: 97 META, 98 GET, 99 PUT.
    pub fn total_bucket_idx(self) -> u32 {
        match self {
            OpClass::Meta => 97,
            OpClass::Get => 98,
            OpClass::Put => 99,
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for OpClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
