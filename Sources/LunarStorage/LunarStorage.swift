import LunarModel
public enum LunarStorageModule {}
