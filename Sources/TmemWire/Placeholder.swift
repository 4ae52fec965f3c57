public enum TmemWirePlaceholder {}
