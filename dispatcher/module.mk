# dispatcher: sockoutd (the dispatcher daemon) and sockoutctl (its CLI).
SOCKOUTD_SRC := $(filter-out dispatcher/sockoutctl.c,$(wildcard dispatcher/*.c))
SOCKOUTD_OBJ := $(SOCKOUTD_SRC:%.c=$(B)/%.o)
SOCKOUTCTL_OBJ := $(B)/dispatcher/sockoutctl.o
CFLAGS_dispatcher_ := $(call pc_cflags,json-c)
DISPATCHER_LIBS := $(call pc_libs,json-c)

PROGS += $(B)/sockoutd $(if $(wildcard dispatcher/sockoutctl.c),$(B)/sockoutctl)

$(B)/sockoutd: $(SOCKOUTD_OBJ) $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DISPATCHER_LIBS)

$(B)/sockoutctl: $(SOCKOUTCTL_OBJ) $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DISPATCHER_LIBS)

# Unit tests that #include dispatcher sources.
LDLIBS_tests_unit_test-rules := $(DISPATCHER_LIBS)
LDLIBS_tests_unit_test-dconf := $(DISPATCHER_LIBS)

-include $(SOCKOUTD_OBJ:.o=.d) $(SOCKOUTCTL_OBJ:.o=.d)
