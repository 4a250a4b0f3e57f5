// Numbers with units in design language, converted to DesignSpec units.
#define BOOST_TEST_MODULE agents
#include <boost/test/unit_test.hpp>

#include "cephalo/agents/quantity.h"

using namespace cephalo::agents;

BOOST_AUTO_TEST_CASE(lengths_become_millimetres)
{
  const auto tol = boost::test_tools::tolerance(1e-12);
  BOOST_TEST(parse_quantity("5 mm")->value == 5.0, tol);
  BOOST_TEST(parse_quantity("0.5cm")->value == 5.0, tol);
  BOOST_TEST(parse_quantity("500 \xC2\xB5m")->value == 0.5, tol);
  BOOST_TEST(parse_quantity("250 um")->value == 0.25, tol);
  BOOST_TEST(parse_quantity("2 Millimetres")->value == 2.0, tol);
  BOOST_TEST(parse_quantity("1e-3 m")->value == 1.0, tol);
  BOOST_TEST((parse_quantity("3 microns")->dimension == Dimension::Length));
}

BOOST_AUTO_TEST_CASE(angles_fractions_and_counts)
{
  const auto tol = boost::test_tools::tolerance(1e-12);
  BOOST_TEST(parse_quantity("45 degrees")->value == 45.0, tol);
  BOOST_TEST(parse_quantity("-10\xC2\xB0")->value == -10.0, tol);
  BOOST_TEST(parse_quantity("1.5707963267948966 rad")->value == 90.0, tol);
  BOOST_TEST(parse_quantity("30%")->value == 0.3, tol);
  BOOST_TEST((parse_quantity("30 percent")->dimension == Dimension::Fraction));
  const auto count = parse_quantity("25 tubules");
  BOOST_TEST((count->dimension == Dimension::Count));
  BOOST_TEST(count->unit == "tubules");
  BOOST_TEST(count->value == 25.0);
}

BOOST_AUTO_TEST_CASE(words_that_start_like_units_are_not_units)
{
  const auto meshes = parse_quantity("2 meshes");
  BOOST_TEST((meshes->dimension == Dimension::Count));
  BOOST_TEST(meshes->unit == "meshes");
  BOOST_TEST((parse_quantity("3 degreesC")->dimension == Dimension::Count));
  BOOST_TEST(!parse_quantity("mm").has_value());
  BOOST_TEST(!parse_quantity("5 mm 6 mm").has_value());
  BOOST_TEST(!parse_quantity("").has_value());
}

BOOST_AUTO_TEST_CASE(quantities_are_found_in_a_sentence)
{
  const std::string text = "a gyroid 20 mm cube, 5 mm cells, 30% dense, rotate 45 degrees, layer2";
  const auto found = find_quantities(text);
  BOOST_REQUIRE_EQUAL(found.size(), 4u);
  BOOST_TEST(found[0].quantity.value == 20.0);
  BOOST_TEST(text.substr(found[0].begin, found[0].end - found[0].begin) == "20 mm");
  BOOST_TEST(found[1].quantity.value == 5.0);
  BOOST_TEST(found[2].quantity.value == 0.3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST((found[3].quantity.dimension == Dimension::Angle));
}

BOOST_AUTO_TEST_CASE(numbers_written_as_words_are_quantities)
{
  const auto five = parse_quantity("five layers");
  BOOST_REQUIRE(five.has_value());
  BOOST_TEST(five->value == 5.0);
  BOOST_TEST(five->unit == "layers");
  BOOST_TEST(parse_quantity("twenty five tubules")->value == 25.0);
  BOOST_TEST(parse_quantity("twenty-five tubules")->value == 25.0);
  BOOST_TEST(parse_quantity("a dozen radials")->value == 12.0);
  BOOST_TEST(parse_quantity("three millimetres")->value == 3.0);
  BOOST_TEST((parse_quantity("three millimetres")->dimension == Dimension::Length));
  // words that contain a number word are not numbers
  BOOST_TEST(find_quantities("none of the stones, someone said").empty());
  const std::string text = "two foam layers and a single Bouligand layer";
  const auto found = find_quantities(text);
  BOOST_REQUIRE_EQUAL(found.size(), 2u);
  BOOST_TEST(found[0].quantity.value == 2.0);
  BOOST_TEST(found[0].quantity.unit == "foam");
  BOOST_TEST(found[1].quantity.value == 1.0);
}
