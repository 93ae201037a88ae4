import LunarModel
import LunarWire
import LunarStorage
public enum LunarAgentModule {}
