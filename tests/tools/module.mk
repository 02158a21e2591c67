# tests/tools: small programs the tests drive helpers with.
# The top Makefile includes only */module.mk and helpers/*/module.mk, so a
# module that needs these tools includes this file, guarded:
#   ifndef TESTS_TOOLS_MK
#   include tests/tools/module.mk
#   endif
TESTS_TOOLS_MK := 1
#   sockout-probe  plays the dispatcher for one connection (like nc)
TOOLS_SRC := $(wildcard tests/tools/*.c)
ALL_TARGETS += $(TOOLS_SRC:tests/tools/%.c=$(B)/tests/tools/%)

$(B)/tests/tools/%: $(B)/tests/tools/%.o $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

-include $(TOOLS_SRC:%.c=$(B)/%.d)
