public enum TmemRemotePlaceholder {}
