"""Reference implementations that hidden tests compare learners' code against (public: learning from them is fine)."""
