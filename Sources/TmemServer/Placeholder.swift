public enum TmemServerPlaceholder {}
