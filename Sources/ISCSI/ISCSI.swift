public enum ISCSIModule {}
