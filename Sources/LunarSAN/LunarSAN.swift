import LunarModel
import ISCSI
public enum LunarSANModule {}
