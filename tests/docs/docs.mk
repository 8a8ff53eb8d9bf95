# Documentation stays true: every option and report field is documented.
test-docs: $(LIB)
	@sh tests/docs/check.sh

TEST_TARGETS += test-docs
.PHONY: test-docs
