PROGS += $(B)/sockout-plain
PLAIN_OBJ := $(B)/helpers/plain/plain.o

$(B)/sockout-plain: $(PLAIN_OBJ) $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

-include $(PLAIN_OBJ:.o=.d)
