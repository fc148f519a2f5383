//! edgeae host side.
