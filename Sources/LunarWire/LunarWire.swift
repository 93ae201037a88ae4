import LunarModel
public enum LunarWireModule {}
