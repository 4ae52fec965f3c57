public enum TmemHostPlaceholder {}
