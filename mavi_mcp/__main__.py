from mavi_mcp.cli import main

main()
