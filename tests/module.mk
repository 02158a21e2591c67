# Unit tests: tests/unit/test-*.c, one program each, linked with the
# shared library.  Tests may #include a .c to reach its static functions.
UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_TESTS += $(UNIT_SRC:%.c=$(B)/%)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_tests_unit_$*)

-include $(UNIT_SRC:%.c=$(B)/%.d)
